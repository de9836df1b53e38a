//! The database every xtask command runs against: `DATABASE_URL` when the
//! developer gives one, otherwise a cluster of our own.

mod cluster;
mod find;

pub use cluster::{Cluster, DataDir};
pub use find::{FindError, SearchPlaces, ServerBinaries, find};

/// Where a command's database came from; holding it keeps a cluster alive.
#[derive(Debug)]
pub enum Database {
    Given(String),
    Owned(Cluster),
}

impl Database {
    /// `DATABASE_URL` if set (nothing is started), else a new cluster.
    pub async fn from_env_or_start(data: DataDir) -> anyhow::Result<Self> {
        if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            return Ok(Self::Given(url));
        }
        let binaries = find(&SearchPlaces::from_env())?;
        Ok(Self::Owned(Cluster::start(&binaries, data).await?))
    }

    pub fn url(&self) -> &str {
        match self {
            Self::Given(url) => url,
            Self::Owned(cluster) => cluster.url(),
        }
    }

    pub fn stop(self) -> anyhow::Result<()> {
        match self {
            Self::Given(_) => Ok(()),
            Self::Owned(cluster) => cluster.stop(),
        }
    }
}
