//! Orders: created by the api, fulfilled and receipted by the worker.

use queue::Job;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Fulfil an order, once in effect. Enqueued with the order, in the same
/// transaction.
///
/// `deny_unknown_fields`, as every payload here: a field this release does
/// not know may change what the job means, so its worker hands the job back
/// for a release that knows it, rather than run it without (docs/migrations.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FulfilOrder {
    pub order_id: Uuid,
}

impl Job for FulfilOrder {
    const KIND: &'static str = "fulfil_order";
}

/// Send an order's receipt, once in effect. Added a release after
/// [`FulfilOrder`]: workers of the release before claim none of these, so
/// they wait for this release's workers (docs/migrations.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendReceipt {
    pub order_id: Uuid,
    /// Whom the receipt is addressed to, as the order named them. Added a
    /// release after the kind, so a field, not a new kind: optional, so
    /// this release still runs the receipts the one before queued without
    /// it; that release cannot decode the receipts this one queues, and
    /// hands them back until a worker of this one runs them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

impl Job for SendReceipt {
    const KIND: &'static str = "send_receipt";
}

/// `pg_notify(ORDER_STATUS_CHANNEL, order_id)` at the commit that changed
/// an order's status; the api's event streams wake on it.
pub const ORDER_STATUS_CHANNEL: &str = "order_status";

#[cfg(test)]
mod tests {
    use super::*;

    /// Jobs already queued were written by an older release: their shape is
    /// a contract, not an implementation detail.
    #[test]
    fn payloads_keep_the_shape_queued_jobs_have() {
        let order_id = Uuid::nil();
        let queued = serde_json::json!({ "order_id": order_id });
        assert_eq!(
            serde_json::to_value(FulfilOrder { order_id }).unwrap(),
            queued
        );
        let receipt = SendReceipt {
            order_id,
            customer_id: None,
        };
        assert_eq!(serde_json::to_value(&receipt).unwrap(), queued);
        assert_eq!(
            serde_json::from_value::<SendReceipt>(queued).unwrap(),
            receipt,
            "a receipt queued before customer_id still runs"
        );
        assert_eq!(FulfilOrder::KIND, "fulfil_order");
        assert_eq!(SendReceipt::KIND, "send_receipt");
    }

    /// What a newer release may write: this release must not run it as if
    /// the field were not there.
    #[test]
    fn a_field_this_release_does_not_know_does_not_decode() {
        let newer = serde_json::json!({ "order_id": Uuid::nil(), "gift_wrap": true });
        assert!(serde_json::from_value::<FulfilOrder>(newer.clone()).is_err());
        assert!(serde_json::from_value::<SendReceipt>(newer).is_err());
    }
}
