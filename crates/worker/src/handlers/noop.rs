//! The benchmark's job: nothing to do, so the runner completes it in a batch.

use domain::Noop;

use crate::{Done, JobContext, JobError, JobHandler};

#[derive(Debug, Clone, Copy)]
pub struct NoopHandler;

impl JobHandler for NoopHandler {
    type Job = Noop;

    async fn run(&self, _job: Noop, _ctx: JobContext) -> Result<Done, JobError> {
        Ok(Done::Acknowledged)
    }
}
