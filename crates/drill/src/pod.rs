//! A pod: one real `api` or `worker` process on its own loopback address,
//! with the environment a Deployment would give it, probed and stopped the
//! way the kubelet does.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout_at};

use crate::timeline::{PodEventKind, Timeline};

/// How often the readiness probe runs while a pod starts.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves traffic on `LISTEN_ADDR`, behind the Service.
    Api,
    /// Serves only probes.
    Worker,
}

/// What every pod of a deployment is started from.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    pub role: Role,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub log_dir: PathBuf,
}

/// Hands out loopback addresses, one per pod, as a CNI hands out pod IPs.
/// Linux routes the whole of 127/8 to loopback.
#[derive(Debug, Clone, Default)]
pub struct PodIps {
    next: Arc<AtomicU32>,
}

impl PodIps {
    pub fn next(&self) -> IpAddr {
        // 127.0.0.1 is the Service's; pods get .2 to .254, then wrap.
        let host = 2 + self.next.fetch_add(1, Ordering::Relaxed) % 253;
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, u8::try_from(host).unwrap_or(2)))
    }
}

/// How a pod ended.
#[derive(Debug, Clone, Serialize)]
pub struct PodExit {
    pub pod: String,
    pub role: Role,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub sigkilled: bool,
    /// From being marked terminating to exit, preStop included.
    pub terminating_ms: u64,
}

#[derive(Debug)]
pub struct Pod {
    pub name: String,
    pub role: Role,
    /// Where the Service sends traffic (api pods only).
    pub traffic: Option<SocketAddr>,
    pub ops: SocketAddr,
    child: Child,
}

/// How the kubelet stops a pod.
#[derive(Debug, Clone, Copy)]
pub struct Termination {
    pub pre_stop: Duration,
    pub grace_period: Duration,
}

impl Pod {
    /// Starts the process; its output goes to `<log_dir>/<name>.log`.
    pub fn start(
        template: &PodTemplate,
        name: &str,
        ip: IpAddr,
        database_url: &str,
    ) -> anyhow::Result<Self> {
        let [ops, traffic] = free_addrs(ip)?;
        let traffic = (template.role == Role::Api).then_some(traffic);
        let log_path = template.log_dir.join(format!("{name}.log"));
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(&template.binary);
        command
            .env_clear()
            .envs(std::env::var("PATH").map(|path| ("PATH".to_owned(), path)))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", database_url)
            .env("OPS_LISTEN_ADDR", ops.to_string())
            .envs(template.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        if let Some(traffic) = traffic {
            command.env("LISTEN_ADDR", traffic.to_string());
        }
        if template.role == Role::Worker {
            command.env("WORKER_ID", name);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", template.binary.display()))?;
        Ok(Self {
            name: name.to_owned(),
            role: template.role,
            traffic,
            ops,
            child,
        })
    }

    /// Probes `/readyz` until it answers 200, as the kubelet's readiness
    /// probe does; fails if the process exits first or `within` runs out.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        within: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let url = format!("http://{}/readyz", self.ops);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("pod {} exited before it was ready: {status}", self.name);
            }
            if let Ok(response) = http.get(&url).timeout(Duration::from_secs(1)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("pod {} not ready within {within:?}", self.name);
            }
            sleep(PROBE_INTERVAL).await;
        }
    }

    /// The kubelet's part: preStop sleep, SIGTERM, SIGKILL when the grace
    /// period (counted from `since`, the moment the pod was marked
    /// terminating) runs out.
    pub async fn terminate(
        mut self,
        since: Instant,
        how: Termination,
        timeline: &Timeline,
    ) -> PodExit {
        sleep(how.pre_stop).await;
        let deadline = tokio::time::Instant::from_std(since + how.grace_period);
        if self.signal(Signal::SIGTERM) {
            timeline.pod_event(&self.name, PodEventKind::Sigterm);
        }
        let mut sigkilled = false;
        let status = match timeout_at(deadline, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                // A process that exited on its own just now is a zombie that
                // a SIGKILL still "reaches"; only its exit status tells.
                self.signal(Signal::SIGKILL);
                let status = self.child.wait().await;
                sigkilled = status
                    .as_ref()
                    .is_ok_and(|status| status.signal() == Some(Signal::SIGKILL as i32));
                if sigkilled {
                    timeline.pod_event(&self.name, PodEventKind::Sigkill);
                }
                status
            }
        };
        let (code, signal) = status.as_ref().map_or((None, None), split_status);
        timeline.pod_event(&self.name, PodEventKind::Exited { code, signal });
        PodExit {
            pod: self.name,
            role: self.role,
            code,
            signal,
            sigkilled,
            terminating_ms: u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// False when the process has been reaped already; a zombie still
    /// takes the signal, to no effect.
    fn signal(&self, signal: Signal) -> bool {
        let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) else {
            return false;
        };
        kill(Pid::from_raw(pid), signal).is_ok()
    }
}

fn split_status(status: &ExitStatus) -> (Option<i32>, Option<i32>) {
    (status.code(), status.signal())
}

/// Two ports nobody on `ip` listens on right now. The pod binds them a
/// moment later; each pod has its own address, so nothing else races for
/// them. Both listeners are held until both ports are picked, or the second
/// bind could be handed the port the first one just released.
fn free_addrs(ip: IpAddr) -> anyhow::Result<[SocketAddr; 2]> {
    let bind = || TcpListener::bind((ip, 0)).with_context(|| format!("cannot bind {ip}"));
    let listeners = [bind()?, bind()?];
    Ok([listeners[0].local_addr()?, listeners[1].local_addr()?])
}
