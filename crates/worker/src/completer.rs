//! Batches completions of jobs without a transactional effect.
//!
//! One statement per job would cap throughput at the round-trip rate. Jobs
//! that end together are completed together instead: the completer takes
//! whatever has queued up since its last statement, so a lone job waits for
//! nobody and a busy worker sends one statement per batch.

use queue::JobId;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 1000;

type Request = ((JobId, i64), oneshot::Sender<Result<bool, String>>);

#[derive(Debug, Clone)]
pub struct Completer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Completer {
    pub fn spawn(pool: PgPool) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, receiver));
        Self { requests }
    }

    /// Completes the job, fenced; `Ok(false)` when the lease was lost.
    pub async fn complete(&self, id: JobId, lease: i64) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(((id, lease), reply))
            .map_err(|_| "completer stopped".to_owned())?;
        answer.await.map_err(|_| "completer stopped".to_owned())?
    }
}

async fn run(pool: PgPool, mut receiver: mpsc::UnboundedReceiver<Request>) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let held: Vec<(JobId, i64)> = batch.iter().map(|(held, _)| *held).collect();
        let result = queue::complete_many(&pool, &held).await;
        for ((id, _), reply) in batch.drain(..) {
            let answer = match &result {
                Ok(completed) => Ok(completed.contains(&id)),
                Err(error) => Err(error.to_string()),
            };
            let _ = reply.send(answer);
        }
    }
}
