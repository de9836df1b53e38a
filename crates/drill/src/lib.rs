//! The rolling-restart drill.
//!
//! Local mode runs the real `api` and `worker` binaries as pods on their own
//! loopback addresses, puts an L4 proxy in front of the api pods the way
//! kube-proxy does, rolls the pods the way a Deployment does, and drives
//! open-loop load through it all. External mode drives the same load at a
//! real deployment. Either way the verdict comes from the requests' outcomes
//! and from the database: nothing acknowledged may be missing, and every
//! order must be fulfilled exactly once.

pub mod chart;
pub mod cli;
pub mod cpu;
pub mod db;
pub mod external;
pub mod finish;
pub mod generator;
pub mod load;
pub mod local;
pub mod long_jobs;
pub mod pod;
pub mod progress;
pub mod proxy;
pub mod report;
pub mod requests_file;
pub mod rollout;
pub mod tail;
pub mod ticks;
pub mod timeline;
pub mod verdict;
