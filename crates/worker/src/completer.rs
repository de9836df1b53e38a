//! Batches completions of jobs without a transactional effect.
//!
//! One statement per job would cap throughput at the round-trip rate. Jobs
//! that end together are completed together instead: the completer takes
//! whatever has queued up since its last statement, so a lone job waits for
//! nobody and a busy worker sends one statement per batch.

use std::collections::HashSet;
use std::time::Duration;

use queue::Fence;
use service::db::bounded;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 1000;

type Request = (Fence, oneshot::Sender<Result<bool, String>>);

#[derive(Debug, Clone)]
pub struct Completer {
    requests: mpsc::UnboundedSender<Request>,
}

impl Completer {
    pub fn spawn(pool: PgPool, call_bound: Duration) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, receiver, call_bound));
        Self { requests }
    }

    /// Completes the job, fenced; `Ok(false)` when the lease was lost.
    pub async fn complete(&self, fence: Fence) -> Result<bool, String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((fence, reply))
            .map_err(|_| "completer stopped".to_owned())?;
        answer.await.map_err(|_| "completer stopped".to_owned())?
    }
}

async fn run(pool: PgPool, mut receiver: mpsc::UnboundedReceiver<Request>, call_bound: Duration) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let fences: Vec<Fence> = batch.iter().map(|(fence, _)| *fence).collect();
        let result = bounded(call_bound, queue::complete_many(&pool, &fences))
            .await
            .map(|completed| completed.into_iter().collect::<HashSet<_>>());
        for (fence, reply) in batch.drain(..) {
            let answer = match &result {
                Ok(completed) => Ok(completed.contains(&fence)),
                Err(error) => Err(error.to_string()),
            };
            let _ = reply.send(answer);
        }
    }
}
