//! The command line. Every setting also has an environment variable, so
//! CI and `cargo xtask drill` can tune a run without editing a command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::load::LoadConfig;

#[derive(Debug, Parser)]
#[command(
    name = "drill",
    about = "Rolls pods under open-loop load and proves that nothing was lost: exit 0 on a pass, 1 on a fail, 2 on bad settings, 3 when the run itself could not be done.",
    // A setting given twice takes the last: a script's defaults can be
    // followed by a caller's overrides (`cargo xtask drill -- …`, the tests).
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the real api and worker binaries as pods, behind a kube-proxy
    /// look-alike, and roll them under load (DATABASE_URL: a PostgreSQL
    /// server the pods use; `api migrate` is run first).
    Local(Box<LocalArgs>),
    /// Drive the load at a real deployment while you roll it yourself
    /// (`kubectl rollout restart`), then judge from its database.
    Load(ExternalArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Open-loop requests per second (creates and reads).
    #[arg(
        long,
        env = "DRILL_RATE",
        value_name = "DRILL_RATE",
        default_value_t = 300.0
    )]
    pub rate: f64,

    /// How long the load runs.
    #[arg(long, env = "DRILL_DURATION", value_name = "DRILL_DURATION", default_value = "40s", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// Share of requests that read an acknowledged order; the rest create.
    #[arg(
        long,
        env = "DRILL_READ_SHARE",
        value_name = "DRILL_READ_SHARE",
        default_value_t = 0.5
    )]
    pub read_share: f64,

    /// SSE subscribers following orders until fulfilled.
    #[arg(
        long,
        env = "DRILL_WATCHERS",
        value_name = "DRILL_WATCHERS",
        default_value_t = 4
    )]
    pub watchers: usize,

    /// Longest one request may take.
    #[arg(long, env = "DRILL_REQUEST_TIMEOUT", value_name = "DRILL_REQUEST_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Idle keep-alive connections the client pool keeps.
    #[arg(
        long,
        env = "DRILL_CONNECTIONS",
        value_name = "DRILL_CONNECTIONS",
        default_value_t = 64
    )]
    pub connections: usize,

    /// How long the queue gets, after the load, to fulfil every order.
    #[arg(long, env = "DRILL_QUEUE_DRAIN_TIMEOUT", value_name = "DRILL_QUEUE_DRAIN_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub queue_drain_timeout: Duration,

    /// Where report.json, timeline.svg and the pods' logs go.
    #[arg(
        long,
        env = "DRILL_OUT",
        value_name = "DRILL_OUT",
        default_value = "target/drill"
    )]
    pub out: PathBuf,

    /// For the drill's own test: the load generator blocks its thread this
    /// long once a second, so that its lag is known to be its own.
    #[arg(long, env = "DRILL_STARVE_GENERATOR", value_name = "DRILL_STARVE_GENERATOR", default_value = "0s", value_parser = humantime::parse_duration, hide = true)]
    pub starve_generator: Duration,

    /// PostgreSQL URL the verdict reads orders and jobs from (and, in local
    /// mode, the pods use).
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShutdownMode {
    Graceful,
    /// The negative control: pods exit on SIGTERM at once. The drill must
    /// fail with it.
    Immediate,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LocalArgs {
    #[command(flatten)]
    pub load: LoadArgs,

    /// The api binary. Default: `api` beside this binary, else
    /// `$CARGO_TARGET_DIR/debug/api` (`target/debug/api`).
    #[arg(long, env = "DRILL_API_BIN", value_name = "DRILL_API_BIN")]
    pub api_bin: Option<PathBuf>,

    /// The worker binary, found the same way as the api's.
    #[arg(long, env = "DRILL_WORKER_BIN", value_name = "DRILL_WORKER_BIN")]
    pub worker_bin: Option<PathBuf>,

    /// Release N's api binary, for an upgrade drill: the pods start on
    /// release N (DRILL_UPGRADE_FROM_API_BIN and _WORKER_BIN), and the first
    /// rollout runs the migrate Job of the binaries above (release N+1) as
    /// it begins, as `kubectl apply` of the Job and the Deployments would,
    /// and moves the pods to them. Later rollouts restart N+1.
    #[arg(
        long,
        env = "DRILL_UPGRADE_FROM_API_BIN",
        value_name = "DRILL_UPGRADE_FROM_API_BIN",
        requires = "upgrade_from_worker_bin"
    )]
    pub upgrade_from_api_bin: Option<PathBuf>,

    /// Release N's worker binary, for an upgrade drill.
    #[arg(
        long,
        env = "DRILL_UPGRADE_FROM_WORKER_BIN",
        value_name = "DRILL_UPGRADE_FROM_WORKER_BIN",
        requires = "upgrade_from_api_bin"
    )]
    pub upgrade_from_worker_bin: Option<PathBuf>,

    /// In an upgrade drill, whether the workers move to release N+1 too.
    /// `false` is its negative control: the api of N+1 enqueues a kind that
    /// no worker of N runs, and the drill must fail with those jobs waiting.
    #[arg(long, env = "DRILL_UPGRADE_WORKERS", value_name = "DRILL_UPGRADE_WORKERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub upgrade_workers: bool,

    #[arg(long, env = "DRILL_API_REPLICAS", value_name = "DRILL_API_REPLICAS", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub api_replicas: u16,

    #[arg(long, env = "DRILL_WORKER_REPLICAS", value_name = "DRILL_WORKER_REPLICAS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub worker_replicas: u16,

    /// How many times each deployment is rolled, evenly spread over the load.
    #[arg(
        long,
        env = "DRILL_ROLLOUTS",
        value_name = "DRILL_ROLLOUTS",
        default_value_t = 2
    )]
    pub rollouts: u32,

    /// Which deployments each rollout restarts: both at once, as a release
    /// does, or one alone, to tell which one a latency tail belongs to.
    #[arg(
        long,
        env = "DRILL_ROLL",
        value_name = "DRILL_ROLL",
        value_enum,
        default_value = "both"
    )]
    pub roll: Roll,

    #[arg(
        long,
        env = "DRILL_MAX_SURGE",
        value_name = "DRILL_MAX_SURGE",
        default_value_t = 1
    )]
    pub max_surge: usize,

    #[arg(
        long,
        env = "DRILL_MAX_UNAVAILABLE",
        value_name = "DRILL_MAX_UNAVAILABLE",
        default_value_t = 0
    )]
    pub max_unavailable: usize,

    /// minReadySeconds: how long a ready pod waits to become an endpoint.
    #[arg(long, env = "DRILL_MIN_READY", value_name = "DRILL_MIN_READY", default_value = "1s", value_parser = humantime::parse_duration)]
    pub min_ready: Duration,

    /// How long a terminating pod's endpoint still gets new connections
    /// (EndpointSlice and kube-proxy lag).
    #[arg(long, env = "DRILL_PROPAGATION_DELAY", value_name = "DRILL_PROPAGATION_DELAY", default_value = "2s", value_parser = humantime::parse_duration)]
    pub propagation_delay: Duration,

    /// preStop sleep before SIGTERM. When set, pods get SHUTDOWN_DRAIN_DELAY=0.
    #[arg(long, env = "DRILL_PRE_STOP", value_name = "DRILL_PRE_STOP", default_value = "0s", value_parser = humantime::parse_duration)]
    pub pre_stop: Duration,

    /// terminationGracePeriodSeconds: SIGKILL this long after the pod is
    /// marked terminating.
    #[arg(long, env = "DRILL_TERMINATION_GRACE_PERIOD", value_name = "DRILL_TERMINATION_GRACE_PERIOD", default_value = "20s", value_parser = humantime::parse_duration)]
    pub termination_grace_period: Duration,

    /// The pods' SHUTDOWN_DRAIN_DELAY (when there is no preStop sleep).
    /// Must exceed the propagation delay, or the drill rightly fails.
    #[arg(long, env = "DRILL_DRAIN_DELAY", value_name = "DRILL_DRAIN_DELAY", default_value = "3s", value_parser = humantime::parse_duration)]
    pub drain_delay: Duration,

    /// The pods' SHUTDOWN_MODE.
    #[arg(
        long,
        env = "DRILL_SHUTDOWN_MODE",
        value_name = "DRILL_SHUTDOWN_MODE",
        default_value = "graceful"
    )]
    pub shutdown_mode: ShutdownMode,

    /// The workers' WORKER_UNDECODABLE. `discard` is the upgrade drill's
    /// negative control for payload skew: release N's workers discard the
    /// payloads of N+1 they cannot decode, and the drill must fail.
    #[arg(
        long,
        env = "DRILL_WORKER_UNDECODABLE",
        value_name = "DRILL_WORKER_UNDECODABLE",
        default_value = "hand-back"
    )]
    pub worker_undecodable: Undecodable,

    /// The workers' WORK_TIME per order.
    #[arg(long, env = "DRILL_WORK_TIME", value_name = "DRILL_WORK_TIME", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub work_time: Duration,

    /// Long jobs started as the load begins: exports of the example domain,
    /// each `--long-job-steps` steps of `--long-job-step-time`, which must
    /// run through the rollouts, complete, and do each step's effect once.
    /// 0 for none (an upgrade from a release before long jobs).
    #[arg(
        long,
        env = "DRILL_LONG_JOBS",
        value_name = "DRILL_LONG_JOBS",
        default_value_t = 2
    )]
    pub long_jobs: u32,

    /// Steps per long job. With the step time, several drain budgets long,
    /// so the rollouts come faster than a job ends.
    #[arg(long, env = "DRILL_LONG_JOB_STEPS", value_name = "DRILL_LONG_JOB_STEPS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub long_job_steps: u32,

    /// The workers' EXPORT_BATCH_TIME: how long each long-job step takes.
    #[arg(long, env = "DRILL_LONG_JOB_STEP_TIME", value_name = "DRILL_LONG_JOB_STEP_TIME", default_value = "1s", value_parser = humantime::parse_duration)]
    pub long_job_step_time: Duration,

    /// The workers' EXPORT_CHECKPOINTS. `false` is the long jobs' negative
    /// control: without checkpoints an interrupted job starts over, and the
    /// drill must fail with steps repeated.
    #[arg(long, env = "DRILL_LONG_JOB_CHECKPOINTS", value_name = "DRILL_LONG_JOB_CHECKPOINTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub long_job_checkpoints: bool,

    /// The example schedule's period (`order_stats`, every 5 s): its ticks
    /// due during the load must each be enqueued and run once. `0s`: not
    /// judged (an upgrade from a release before schedules).
    #[arg(long, env = "DRILL_SCHEDULE_PERIOD", value_name = "DRILL_SCHEDULE_PERIOD", default_value = "5s", value_parser = humantime::parse_duration)]
    pub schedule_period: Duration,

    /// The workers' WORKER_SCHEDULER. `local-timer` is the schedules'
    /// negative control: every worker fires on its own clock, and the drill
    /// must fail with ticks doubled.
    #[arg(
        long,
        env = "DRILL_WORKER_SCHEDULER",
        value_name = "DRILL_WORKER_SCHEDULER",
        default_value = "shared"
    )]
    pub worker_scheduler: WorkerScheduler,

    /// The workers' QUEUE_LEASE (heartbeat a third of it): how soon the
    /// jobs of a killed worker run again.
    #[arg(long, env = "DRILL_QUEUE_LEASE", value_name = "DRILL_QUEUE_LEASE", default_value = "6s", value_parser = humantime::parse_duration)]
    pub queue_lease: Duration,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExternalArgs {
    #[command(flatten)]
    pub load: LoadArgs,

    /// Base URL of the deployment's api Service or ingress.
    #[arg(long, env = "DRILL_TARGET", value_name = "DRILL_TARGET")]
    pub target: String,
}

impl LoadArgs {
    /// The checks clap cannot express; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(format!("DRILL_RATE must be above 0, not {}", self.rate));
        }
        if !(0.0..=1.0).contains(&self.read_share) {
            return Err(format!(
                "DRILL_READ_SHARE must be within 0 to 1, not {}",
                self.read_share
            ));
        }
        if self.duration.is_zero() {
            return Err("DRILL_DURATION must be above 0".to_owned());
        }
        if self.starve_generator >= Duration::from_secs(1) {
            return Err(
                "DRILL_STARVE_GENERATOR must be under 1s: it stalls once a second".to_owned(),
            );
        }
        if !(self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err("DATABASE_URL must be a postgres:// URL".to_owned());
        }
        Ok(())
    }

    /// The settings as the report records them.
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "rate": self.rate,
            "duration": humantime::format_duration(self.duration).to_string(),
            "read_share": self.read_share,
            "watchers": self.watchers,
            "request_timeout": humantime::format_duration(self.request_timeout).to_string(),
            "connections": self.connections,
            "queue_drain_timeout": humantime::format_duration(self.queue_drain_timeout).to_string(),
            "starve_generator": humantime::format_duration(self.starve_generator).to_string(),
        })
    }

    /// The load both modes drive; `key_prefix` marks this run's orders.
    pub fn load_config(&self, key_prefix: &str) -> LoadConfig {
        LoadConfig {
            rate: self.rate,
            duration: self.duration,
            read_share: self.read_share,
            watchers: self.watchers,
            request_timeout: self.request_timeout,
            connections: self.connections,
            key_prefix: key_prefix.to_owned(),
            starve_generator: self.starve_generator,
        }
    }
}

impl LocalArgs {
    pub fn validate(&self) -> Result<(), String> {
        self.load.validate()?;
        if self.max_surge == 0 && self.max_unavailable == 0 {
            return Err("DRILL_MAX_SURGE and DRILL_MAX_UNAVAILABLE cannot both be 0".to_owned());
        }
        if self.pre_stop >= self.termination_grace_period {
            return Err(
                "DRILL_PRE_STOP must be shorter than DRILL_TERMINATION_GRACE_PERIOD".to_owned(),
            );
        }
        if self.queue_lease < Duration::from_secs(3) {
            return Err("DRILL_QUEUE_LEASE must be at least 3s".to_owned());
        }
        if self.roll != Roll::Both && self.upgrade_from().is_some() {
            return Err(
                "DRILL_ROLL must be both in an upgrade, which moves both to N+1".to_owned(),
            );
        }
        let mut binaries = vec![
            (self.api_binary(), "api", "DRILL_API_BIN"),
            (self.worker_binary(), "worker", "DRILL_WORKER_BIN"),
        ];
        if let Some((api, worker)) = self.upgrade_from() {
            binaries.push((api, "api", "DRILL_UPGRADE_FROM_API_BIN"));
            binaries.push((worker, "worker", "DRILL_UPGRADE_FROM_WORKER_BIN"));
        }
        for (path, name, setting) in binaries {
            if !path.is_file() {
                return Err(format!(
                    "{setting}: no {name} binary at {} (build it with `cargo build -p {name}`)",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    pub fn api_binary(&self) -> PathBuf {
        self.api_bin
            .clone()
            .unwrap_or_else(|| default_binary("api"))
    }

    pub fn worker_binary(&self) -> PathBuf {
        self.worker_bin
            .clone()
            .unwrap_or_else(|| default_binary("worker"))
    }

    /// Release N's api and worker, in an upgrade drill.
    pub fn upgrade_from(&self) -> Option<(PathBuf, PathBuf)> {
        Some((
            self.upgrade_from_api_bin.clone()?,
            self.upgrade_from_worker_bin.clone()?,
        ))
    }

    pub fn settings(&self) -> serde_json::Value {
        let human = |d: Duration| humantime::format_duration(d).to_string();
        let mut settings = self.load.settings();
        settings["local"] = serde_json::json!({
            "api_replicas": self.api_replicas,
            "worker_replicas": self.worker_replicas,
            "rollouts": self.rollouts,
            "roll": env_value(self.roll),
            "max_surge": self.max_surge,
            "max_unavailable": self.max_unavailable,
            "min_ready": human(self.min_ready),
            "propagation_delay": human(self.propagation_delay),
            "pre_stop": human(self.pre_stop),
            "termination_grace_period": human(self.termination_grace_period),
            "drain_delay": human(self.drain_delay),
            "shutdown_mode": env_value(self.shutdown_mode),
            "worker_undecodable": env_value(self.worker_undecodable),
            "work_time": human(self.work_time),
            "long_jobs": self.long_jobs,
            "long_job_steps": self.long_job_steps,
            "long_job_step_time": human(self.long_job_step_time),
            "long_job_checkpoints": self.long_job_checkpoints,
            "schedule_period": human(self.schedule_period),
            "worker_scheduler": env_value(self.worker_scheduler),
            "queue_lease": human(self.queue_lease),
            "upgrade": self.upgrade_from().map(|(api, worker)| serde_json::json!({
                "from_api_bin": api.display().to_string(),
                "from_worker_bin": worker.display().to_string(),
                "workers_upgraded": self.upgrade_workers,
            })),
        });
        settings
    }
}

impl ExternalArgs {
    pub fn validate(&self) -> Result<(), String> {
        self.load.validate()?;
        if !(self.target.starts_with("http://") || self.target.starts_with("https://")) {
            return Err(format!(
                "DRILL_TARGET must be an http:// URL, not {:?}",
                self.target
            ));
        }
        Ok(())
    }
}

/// Where a sibling binary is when none is named: next to this one (both
/// built into the same target dir), else in `$CARGO_TARGET_DIR/debug`.
pub fn default_binary(name: &str) -> PathBuf {
    if let Some(sibling) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)))
        .filter(|path| path.is_file())
    {
        return sibling;
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("debug").join(name)
}

/// What the workers do with a payload they cannot decode (the worker's
/// `WORKER_UNDECODABLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Undecodable {
    HandBack,
    Discard,
}

/// The deployments a rollout restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Roll {
    Both,
    Api,
    Worker,
}

impl Roll {
    pub fn api(self) -> bool {
        self != Self::Worker
    }

    pub fn worker(self) -> bool {
        self != Self::Api
    }
}

/// How the workers enqueue their schedules' ticks (the worker's
/// `WORKER_SCHEDULER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkerScheduler {
    Shared,
    LocalTimer,
}

/// The value a pod's setting takes for `value` (`SHUTDOWN_MODE`,
/// `WORKER_UNDECODABLE`): the name clap parses it from.
pub fn env_value(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .expect("no variant is skipped")
        .get_name()
        .to_owned()
}
