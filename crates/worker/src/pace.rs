//! When the claim loop claims: at once while claims come back full (a
//! backlog), and otherwise on a NOTIFY hint or the poll interval, but never
//! sooner than the claim cooldown after a claim that came back short.
//!
//! The claim is most of what a worker asks of the database. Under a steady
//! trickle of jobs every enqueue's NOTIFY wakes every worker, and each
//! claimed at once: a profile of the drill counted 1.5 claims per job, and
//! the claim was 58 % of PostgreSQL's execution time
//! (docs/benchmarks.md, "Claims per job"). Hints that arrived before a claim
//! starts are covered by it, so they are read and dropped first; and a
//! claim after a short one waits out the cooldown, so that the jobs
//! enqueued meanwhile come in one claim, not one each.

use std::time::Duration;

use futures::FutureExt as _;
use service::db::bounded;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::time::Instant;

#[derive(Debug)]
pub struct ClaimPace {
    /// `None` when LISTEN failed: the worker polls only.
    listener: Option<PgListener>,
    cooldown: Duration,
    /// When the last claim that came back short was sent.
    last_short_claim: Option<Instant>,
}

impl ClaimPace {
    /// LISTEN is only a hint; without it the worker still polls.
    pub async fn listen(pool: &PgPool, call_bound: Duration, cooldown: Duration) -> Self {
        let listener = async {
            let mut listener = bounded(call_bound, PgListener::connect_with(pool)).await?;
            bounded(call_bound, listener.listen(queue::CHANNEL)).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let listener = match listener.await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN; polling only");
                None
            }
        };
        Self {
            listener,
            cooldown,
            last_short_claim: None,
        }
    }

    /// Waits out the cooldown if the last claim came back short, then drops
    /// the hints already received: the claim about to start sees every job
    /// they were sent for.
    pub async fn before_claim(&mut self) {
        if let Some(sent) = self.last_short_claim {
            tokio::time::sleep_until(sent + self.cooldown).await;
        }
        if let Some(listener) = &mut self.listener {
            // `recv` is cancel-safe: one poll reads a notification already
            // in the socket's buffer, or gives up without losing one.
            while let Some(Ok(_)) = listener.recv().now_or_never() {}
        }
    }

    /// Records a claim sent at `sent` that asked for `asked` jobs and got
    /// `got`.
    pub fn claimed(&mut self, sent: Instant, asked: usize, got: usize) {
        self.last_short_claim = (got < asked).then_some(sent);
    }

    /// Until the next hint; for ever if there is no LISTEN.
    pub async fn hint(&mut self) {
        match &mut self.listener {
            Some(listener) => {
                if let Err(error) = listener.recv().await {
                    tracing::debug!(%error, "notification stream broke; it reconnects on the next recv");
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Stops listening, so that the connection goes back to the pool clean.
    pub async fn unlisten(self, call_bound: Duration) {
        if let Some(mut listener) = self.listener
            && let Err(error) = bounded(call_bound, listener.unlisten_all()).await
        {
            tracing::debug!(%error, "unlisten failed; the connection closes anyway");
        }
    }
}
