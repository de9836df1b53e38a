//! What the queue's test binaries share.

use queue::Job;

/// The tests' job kind: a number to tell jobs apart.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct K {
    #[serde(default)]
    pub n: i64,
}

impl Job for K {
    const KIND: &'static str = "k";
}
