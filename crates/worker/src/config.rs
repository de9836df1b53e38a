//! The worker's settings.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use service::{DatabaseArgs, LogArgs, ShutdownArgs};

#[derive(Debug, Parser)]
#[command(
    name = "worker",
    about = "Runs jobs from the PostgreSQL queue, and stops without losing or doubling any."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Jobs run at once. The worker claims only as many jobs as it has free
    /// slots, so this is also the most jobs it holds leases on.
    #[arg(long, env = "WORKER_CONCURRENCY", value_name = "WORKER_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub worker_concurrency: u32,

    /// How long the example `fulfil_order` job works before it fulfils.
    #[arg(long, env = "WORK_TIME", value_name = "WORK_TIME", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub work_time: Duration,

    /// How long the example `export_orders` job takes to write out each
    /// batch of orders, standing in for an upload.
    #[arg(long, env = "EXPORT_BATCH_TIME", value_name = "EXPORT_BATCH_TIME", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub export_batch_time: Duration,

    /// `true`, or `false`: a negative control for the drill, which must be
    /// able to see an export without checkpoints repeat its batches when a
    /// deploy interrupts it. Never deploy `false`.
    #[arg(long, env = "EXPORT_CHECKPOINTS", value_name = "EXPORT_CHECKPOINTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub export_checkpoints: bool,

    /// Run only these job kinds (comma-separated), e.g. to give a slow kind
    /// workers of its own. Unset: every kind this worker has a handler for.
    /// A worker never claims a kind it cannot run, so during a rolling
    /// update a kind added by the new release waits for the new workers.
    #[arg(
        long,
        env = "WORKER_KINDS",
        value_name = "WORKER_KINDS",
        value_delimiter = ','
    )]
    pub worker_kinds: Vec<String>,

    /// How long a claimed job stays ours without a heartbeat. A crashed
    /// worker's jobs run again this long after its last heartbeat.
    #[arg(long, env = "QUEUE_LEASE", value_name = "QUEUE_LEASE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub queue_lease: Duration,

    /// How often every lease this process holds is renewed, in one statement.
    /// At most a third of QUEUE_LEASE. A job whose lease has gone unrenewed
    /// for QUEUE_LEASE − 2 × QUEUE_HEARTBEAT is cancelled, before another
    /// worker could rescue it: at a third, that is after one failed beat; at
    /// the defaults (30s, 5s), after 20 s without a renewal.
    #[arg(long, env = "QUEUE_HEARTBEAT", value_name = "QUEUE_HEARTBEAT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub queue_heartbeat: Duration,

    /// How long completed jobs are kept before the sweeper deletes them.
    #[arg(long, env = "QUEUE_RETAIN_COMPLETED", value_name = "QUEUE_RETAIN_COMPLETED", default_value = "24h", value_parser = humantime::parse_duration)]
    pub queue_retain_completed: Duration,

    /// How long discarded jobs are kept, for a person to look into or retry.
    #[arg(long, env = "QUEUE_RETAIN_DISCARDED", value_name = "QUEUE_RETAIN_DISCARDED", default_value = "7d", value_parser = humantime::parse_duration)]
    pub queue_retain_discarded: Duration,

    /// How often to look for work when no notification arrives.
    #[arg(long, env = "QUEUE_POLL_INTERVAL", value_name = "QUEUE_POLL_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub queue_poll_interval: Duration,

    /// The least time between a claim that found fewer jobs than it had
    /// slots for and the next claim, so that the jobs enqueued meanwhile are
    /// claimed together. A job on a busy queue may wait this much longer; a
    /// backlog is claimed without pause. 0s claims on every hint.
    #[arg(long, env = "QUEUE_CLAIM_COOLDOWN", value_name = "QUEUE_CLAIM_COOLDOWN", default_value = "10ms", value_parser = humantime::parse_duration)]
    pub queue_claim_cooldown: Duration,

    /// `hand-back`, or `discard`: a negative control for the upgrade drill,
    /// which must be able to see a worker that discards the payloads it
    /// cannot decode lose a newer release's jobs. Never deploy `discard`.
    #[arg(
        long,
        env = "WORKER_UNDECODABLE",
        value_name = "WORKER_UNDECODABLE",
        default_value = "hand-back"
    )]
    pub worker_undecodable: Undecodable,

    /// Run only these schedules (comma-separated), or `none`. Unset: every
    /// schedule declared (`domain::SCHEDULES`). Any number of workers may
    /// run the same schedule: each tick is enqueued once.
    #[arg(
        long,
        env = "WORKER_SCHEDULES",
        value_name = "WORKER_SCHEDULES",
        value_delimiter = ','
    )]
    pub worker_schedules: Vec<String>,

    /// `shared`, or `local-timer`: a negative control for the drill, a
    /// scheduler in which every worker fires on its own clock, which must
    /// double ticks. Never deploy `local-timer`.
    #[arg(
        long,
        env = "WORKER_SCHEDULER",
        value_name = "WORKER_SCHEDULER",
        default_value = "shared"
    )]
    pub worker_scheduler: SchedulerMode,

    /// Names this process in `jobs.locked_by`. Defaults to host and pid.
    #[arg(long, env = "WORKER_ID", value_name = "WORKER_ID")]
    pub worker_id: Option<String>,

    /// livez, readyz and metrics.
    #[arg(
        long,
        env = "OPS_LISTEN_ADDR",
        value_name = "OPS_LISTEN_ADDR",
        default_value = "0.0.0.0:9091"
    )]
    pub ops_listen_addr: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub shutdown: ShutdownArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

impl Args {
    /// The checks clap cannot express: relations between settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.queue_heartbeat.is_zero() || self.queue_heartbeat * 3 > self.queue_lease {
            return Err(format!(
                "QUEUE_HEARTBEAT ({}) must be non-zero and at most a third of QUEUE_LEASE ({})",
                humantime::format_duration(self.queue_heartbeat),
                humantime::format_duration(self.queue_lease)
            ));
        }
        // One renewal (a wait for a connection, then the statement) must be
        // able to fail and be retried well inside the lease.
        for (name, value) in [
            (
                "DATABASE_ACQUIRE_TIMEOUT",
                self.database.database_acquire_timeout,
            ),
            (
                "DATABASE_STATEMENT_TIMEOUT",
                self.database.database_statement_timeout,
            ),
        ] {
            if value.is_zero() || value * 3 > self.queue_lease {
                return Err(format!(
                    "{name} ({}) must be non-zero and at most a third of QUEUE_LEASE ({})",
                    humantime::format_duration(value),
                    humantime::format_duration(self.queue_lease)
                ));
            }
        }
        // A cooldown as long as the poll interval would make every job on a
        // busy queue wait as if its NOTIFY had been lost.
        if self.queue_claim_cooldown >= self.queue_poll_interval {
            return Err(format!(
                "QUEUE_CLAIM_COOLDOWN ({}) must be less than QUEUE_POLL_INTERVAL ({})",
                humantime::format_duration(self.queue_claim_cooldown),
                humantime::format_duration(self.queue_poll_interval)
            ));
        }
        Ok(())
    }

    /// The declared schedules this worker runs (`WORKER_SCHEDULES`), parsed:
    /// a name not declared, or a schedule that does not parse, is bad
    /// config, named.
    pub fn schedules(
        &self,
        declared: &[queue::schedule::ScheduleSpec],
    ) -> Result<Vec<queue::schedule::Schedule>, String> {
        let wanted = &self.worker_schedules;
        if wanted.iter().any(|name| name == "none") {
            return Ok(Vec::new());
        }
        if let Some(unknown) = wanted
            .iter()
            .find(|name| !declared.iter().any(|spec| spec.name == name.as_str()))
        {
            let names: Vec<&str> = declared.iter().map(|spec| spec.name).collect();
            return Err(format!(
                "WORKER_SCHEDULES names `{unknown}`, which is not declared (declared: {})",
                names.join(", ")
            ));
        }
        declared
            .iter()
            .filter(|spec| wanted.is_empty() || wanted.iter().any(|name| name == spec.name))
            .map(|spec| queue::schedule::Schedule::parse(*spec))
            .collect()
    }

    pub fn retention(&self) -> queue::Retention {
        queue::Retention {
            completed: self.queue_retain_completed,
            discarded: self.queue_retain_discarded,
        }
    }

    /// The pool's settings, with its minimum raised to a connection per job
    /// slot (up to DATABASE_MAX_CONNECTIONS): opened one at a time before
    /// the first claim, and kept open while the worker serves. A worker
    /// that starts into a backlog, or meets a burst of jobs after a quiet
    /// spell, claims a job per slot at once, and its pool would otherwise
    /// open that many connections in the same instant (`service::db::warm`
    /// says why that costs the requests the database serves meanwhile).
    pub fn database_for_job_slots(&self) -> DatabaseArgs {
        let mut database = self.database.clone();
        database.database_min_connections = self
            .worker_concurrency
            .min(database.database_max_connections)
            .max(database.min_connections());
        database
    }

    pub fn worker_id(&self) -> String {
        self.worker_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap_or_else(|_| "worker".into());
            format!("{}-{}", host.trim(), std::process::id())
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// An operator's tools: list, show, retry, discard and cancel jobs.
    /// Needs only DATABASE_URL.
    Jobs {
        #[command(subcommand)]
        command: crate::operator::JobsCommand,
    },
}

/// How the worker enqueues its schedules' ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchedulerMode {
    /// Through each schedule's shared mark: each tick once.
    Shared,
    /// On each process's own clock: the drill's negative control.
    LocalTimer,
}

/// What the worker does with a job whose payload it cannot decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Undecodable {
    /// Back to the queue, attempt not spent, for a release that can decode
    /// it (docs/migrations.md).
    HandBack,
    /// Discarded at once, as a worker that trusts its own release would: the
    /// upgrade drill's negative control.
    Discard,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_minimum(flags: &[&str]) -> u32 {
        let mut argv = vec!["worker", "--database-url", "postgres://localhost/app"];
        argv.extend(flags);
        let args = Args::try_parse_from(argv).unwrap();
        args.database_for_job_slots().min_connections()
    }

    #[test]
    fn the_pools_minimum_is_a_connection_per_job_slot_within_its_bounds() {
        assert_eq!(pool_minimum(&["--worker-concurrency", "8"]), 8);
        let capped = [
            "--worker-concurrency",
            "20",
            "--database-max-connections",
            "10",
        ];
        assert_eq!(pool_minimum(&capped), 10);
        let floored = [
            "--worker-concurrency",
            "1",
            "--database-min-connections",
            "3",
        ];
        assert_eq!(pool_minimum(&floored), 3);
    }

    #[test]
    fn a_claim_cooldown_as_long_as_the_poll_interval_is_refused() {
        let argv = [
            "worker",
            "--database-url",
            "postgres://localhost/app",
            "--queue-claim-cooldown",
            "1s",
        ];
        let refused = Args::try_parse_from(argv).unwrap().validate().unwrap_err();
        assert!(
            refused.contains("QUEUE_CLAIM_COOLDOWN") && refused.contains("QUEUE_POLL_INTERVAL"),
            "{refused}"
        );
    }
}
