//! The benchmark's job: nothing to do, so the runner completes it in a batch.

use domain::Noop;

use super::{Done, JobContext, JobError};

pub async fn acknowledge(_job: Noop, _ctx: JobContext) -> Result<Done, JobError> {
    Ok(Done::Acknowledged)
}
