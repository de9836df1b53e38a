//! The example domain: an order of items for a customer, fulfilled later by
//! the worker's `FulfilOrder` job.
//!
//! Every rule `validate` enforces is also in the schema (`min_length`,
//! `pattern`, `min_items`…), so the OpenAPI document states what the api
//! accepts and a client generated from it cannot send what it refuses.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

const MAX_ITEMS: usize = 100;
const MAX_QTY: u32 = 1000;
const MAX_TEXT: usize = 64;

/// The body of `POST /v1/orders`. Unknown fields are refused, so a typo in
/// a field name is an error rather than a silently dropped value.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// 1 to 64 characters, not all blank.
    #[schema(example = "c-42", min_length = 1, max_length = 64, pattern = r"\S")]
    pub customer_id: String,
    /// 1 to 100 items.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// 1 to 64 characters, not all blank.
    #[schema(example = "sku-1", min_length = 1, max_length = 64, pattern = r"\S")]
    pub sku: String,
    /// 1 to 1000.
    #[schema(example = 2, minimum = 1, maximum = 1000)]
    pub qty: u32,
}

impl CreateOrder {
    /// The checks serde cannot express, each naming its field.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_text("customer_id", &self.customer_id)?;
        if self.items.is_empty() || self.items.len() > MAX_ITEMS {
            return Err(ApiError::invalid(
                "items",
                format!("must hold 1 to {MAX_ITEMS} items"),
            ));
        }
        for (index, item) in self.items.iter().enumerate() {
            check_text(&format!("items[{index}].sku"), &item.sku)?;
            if !(1..=MAX_QTY).contains(&item.qty) {
                return Err(ApiError::invalid(
                    format!("items[{index}].qty"),
                    format!("must be 1 to {MAX_QTY}"),
                ));
            }
        }
        Ok(())
    }

    /// What an Idempotency-Key is bound to: the SHA-256 of the request as
    /// parsed. Serializing the parsed struct makes it independent of key
    /// order and whitespace, and stable across replicas and releases.
    pub fn request_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&canonical);
        format!("{digest:x}")
    }
}

fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(
            field,
            format!("must be 1 to {MAX_TEXT} characters, not blank"),
        ));
    }
    Ok(())
}

/// The body of `POST /v1/exports`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExport {
    /// Whose orders: 1 to 64 characters, not all blank.
    #[schema(example = "c-42", min_length = 1, max_length = 64, pattern = r"\S")]
    pub customer_id: String,
    /// Orders per batch, each batch one step of the export job: 1 to 1000,
    /// 100 when left out.
    #[schema(example = 100, minimum = 1, maximum = 1000)]
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
}

const MAX_BATCH_SIZE: u32 = 1000;

fn default_batch_size() -> u32 {
    100
}

impl CreateExport {
    pub fn validate(&self) -> Result<(), ApiError> {
        check_text("customer_id", &self.customer_id)?;
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(ApiError::invalid(
                "batch_size",
                format!("must be 1 to {MAX_BATCH_SIZE}"),
            ));
        }
        Ok(())
    }
}

/// An export of a customer's orders, as created before it, written in
/// batches by the worker's `export_orders` job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Export {
    pub id: Uuid,
    pub customer_id: String,
    pub batch_size: u32,
    /// `running`, then `completed`; a status a newer release added is
    /// shown as stored.
    #[schema(example = "running")]
    pub status: String,
    /// Batches written so far.
    pub batches_written: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Fulfilled,
    /// A status a newer release added, shown as stored: during a rollout
    /// an older pod must not call a refunded order pending.
    #[serde(untagged)]
    Other(String),
}

impl OrderStatus {
    pub fn from_db(status: &str) -> Self {
        match status {
            "pending" => Self::Pending,
            "fulfilled" => Self::Fulfilled,
            newer => Self::Other(newer.to_owned()),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    pub customer_id: String,
    pub items: Vec<Item>,
    pub status: OrderStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Set once the worker has fulfilled the order.
    #[serde(with = "time::serde::rfc3339::option")]
    pub fulfilled_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(json: &str) -> CreateOrder {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_status_a_newer_release_added_is_shown_as_stored() {
        for status in ["pending", "fulfilled", "refunded"] {
            assert_eq!(
                serde_json::to_value(OrderStatus::from_db(status)).unwrap(),
                status
            );
        }
    }

    #[test]
    fn the_hash_ignores_key_order_and_whitespace() {
        let a = order(r#"{"customer_id":"c","items":[{"sku":"s","qty":1}]}"#);
        let b = order(r#"{ "items": [ {"qty": 1, "sku": "s"} ], "customer_id": "c" }"#);
        let c = order(r#"{"customer_id":"c","items":[{"sku":"s","qty":2}]}"#);
        assert_eq!(a.request_hash(), b.request_hash());
        assert_ne!(a.request_hash(), c.request_hash());
    }

    #[test]
    fn validation_names_the_field() {
        let error =
            order(r#"{"customer_id":"c","items":[{"sku":"s","qty":1},{"sku":" ","qty":1}]}"#)
                .validate()
                .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items[1].sku"));
        let error = order(r#"{"customer_id":"c","items":[]}"#)
            .validate()
            .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items"));
    }
}
