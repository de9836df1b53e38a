//! Exports: a customer's orders, written out in batches by a long job that
//! survives deploys by checkpointing after each batch.

use queue::Job;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Export one customer's orders, a batch per step. Enqueued with its
/// `exports` row, in the same transaction. It takes as long as its batches
/// do, many drain budgets for a big customer: each batch commits with the
/// job's cursor, so a deploy interrupts it between batches and another
/// worker goes on from there (docs/extending.md, "A long job").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportOrders {
    pub export_id: Uuid,
}

impl Job for ExportOrders {
    const KIND: &'static str = "export_orders";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_keeps_the_shape_queued_jobs_have() {
        let export_id = Uuid::nil();
        let queued = serde_json::json!({ "export_id": export_id });
        assert_eq!(
            serde_json::to_value(ExportOrders { export_id }).unwrap(),
            queued
        );
        assert_eq!(ExportOrders::KIND, "export_orders");
    }
}
