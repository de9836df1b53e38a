//! `drill local`: pods, Service, rollouts and load on this machine.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sqlx::postgres::PgPoolOptions;

use crate::cli::{LocalArgs, ShutdownMode, env_value};
use crate::cpu::CpuSampler;
use crate::finish::{self, RunFacts};
use crate::load;
use crate::load::record::Recorder;
use crate::long_jobs;
use crate::pod::{PodIps, PodTemplate, Role, Termination};
use crate::progress::Progress;
use crate::proxy::{Endpoints, Proxy};
use crate::report::Context;
use crate::rollout::{Cluster, Deployment, Strategy};
use crate::ticks;
use crate::timeline::Timeline;

/// Returns whether the verdict passed.
pub async fn run(args: LocalArgs) -> anyhow::Result<bool> {
    let out = args.load.out.clone();
    let log_dir = out.join("pods");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let api_bin = args.api_binary();
    let worker_bin = args.worker_binary();
    let database_url = args.load.database_url.clone();
    let cluster_url = database_url.clone();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&database_url)
        .await
        .context("cannot connect to DATABASE_URL")?;
    // In an upgrade, the pods start on release N, migrated as N left it.
    let upgrade = args.upgrade_from();
    let (first_api_bin, first_worker_bin) = upgrade
        .clone()
        .unwrap_or_else(|| (api_bin.clone(), worker_bin.clone()));
    migrate(&first_api_bin, &database_url, &log_dir.join("migrate.log")).await?;

    let timeline = Timeline::new(Instant::now());
    let cluster = Cluster {
        timeline: timeline.clone(),
        // Probes open a connection each, as the kubelet's do.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()?,
        ips: PodIps::default(),
        database_url,
    };
    let proxy = Proxy::bind(([127, 0, 0, 1], 0).into(), Endpoints::default())
        .await
        .context("cannot bind the Service's address")?;
    let strategy = Strategy {
        max_surge: args.max_surge,
        max_unavailable: args.max_unavailable,
        min_ready: args.min_ready,
        propagation_delay: args.propagation_delay,
        termination: Termination {
            pre_stop: args.pre_stop,
            grace_period: args.termination_grace_period,
        },
    };
    let template = |role, binary| PodTemplate {
        role,
        binary,
        env: pod_env(&args, role),
        log_dir: log_dir.clone(),
    };
    let mut api = Deployment::new(
        "api",
        template(Role::Api, first_api_bin),
        usize::from(args.api_replicas),
        strategy,
        Some(proxy.endpoints.clone()),
        cluster.clone(),
    );
    let mut worker = Deployment::new(
        "worker",
        template(Role::Worker, first_worker_bin),
        usize::from(args.worker_replicas),
        strategy,
        None,
        cluster,
    );
    eprintln!(
        "drill: starting {} api and {} worker pods behind http://{}",
        args.api_replicas,
        args.worker_replicas,
        proxy.addr()
    );
    tokio::try_join!(api.create(), worker.create())?;

    let key_prefix = key_prefix();
    let plan = long_jobs::Plan {
        jobs: args.long_jobs,
        steps: args.long_job_steps,
    };
    let setup = reqwest::Client::builder()
        .timeout(args.load.request_timeout)
        .build()?;
    let long_jobs = long_jobs::start(
        &setup,
        &format!("http://{}", proxy.addr()),
        &key_prefix,
        plan,
    )
    .await?;
    if !long_jobs.is_empty() {
        eprintln!(
            "drill: started {} long jobs of {} steps of {} each",
            long_jobs.len(),
            args.long_job_steps,
            humantime::format_duration(args.long_job_step_time)
        );
    }
    let recorder = Arc::new(Recorder::default());
    let progress = Progress::start(
        args.load.duration,
        timeline.clone(),
        recorder.clone(),
        Some(proxy.endpoints.clone()),
    );
    let load_started = Instant::now();
    let load_started_at = ticks::now(&pool).await?;
    let cpu = CpuSampler::start(timeline.clone());
    let load = tokio::spawn(load::run(
        format!("http://{}", proxy.addr()),
        args.load.load_config(&key_prefix),
        timeline.clone(),
        recorder.clone(),
    ));
    let rolled = async {
        let mut rollout_ends = Vec::new();
        for k in 1..=args.rollouts {
            let at = load_started + args.load.duration * k / (args.rollouts + 1);
            tokio::time::sleep_until(at.into()).await;
            progress.note(&format!("drill: rollout {k} of {} begins", args.rollouts));
            if k == 1 && upgrade.is_some() {
                // Release N+1: its migrate Job and its api are applied
                // together; its pods stay unready until the Job ends. The
                // workers roll once the api has: the order that leaves N's
                // workers claiming N+1's jobs longest, the worst case for a
                // payload N cannot decode. Rolled together, N's workers
                // were gone before N+1's api had its first request.
                api.set_binary(api_bin.clone());
                if args.upgrade_workers {
                    worker.set_binary(worker_bin.clone());
                }
                let job_log = log_dir.join("migrate-upgrade.log");
                tokio::try_join!(migrate(&api_bin, &cluster_url, &job_log), api.rollout())?;
                worker.rollout().await?;
            } else {
                tokio::try_join!(
                    roll_if(&mut api, args.roll.api()),
                    roll_if(&mut worker, args.roll.worker())
                )?;
            }
            rollout_ends.push((k, Instant::now()));
        }
        anyhow::Ok(rollout_ends)
    }
    .await;
    let load_ended = load.await.context("the load panicked")??;
    let load_ended_at = ticks::now(&pool).await?;
    let cpu = cpu.finish().await;
    progress.finish();
    let rollouts_outlasting_load = rolled?
        .into_iter()
        .filter(|&(_, ended)| ended > load_ended)
        .map(|(k, _)| k)
        .collect();

    let queue_drained =
        finish::wait_for_queue(&pool, &key_prefix, args.load.queue_drain_timeout).await?;
    eprintln!("drill: stopping every pod");
    tokio::join!(api.delete(), worker.delete());
    let proxy_stats = proxy.shutdown().await;
    let pods: Vec<_> = api.exits().into_iter().chain(worker.exits()).collect();
    let facts = RunFacts {
        key_prefix,
        queue_drained,
        load_seconds: args.load.duration.as_secs_f64(),
        pods_sigkilled: Some(pods.iter().filter(|pod| pod.sigkilled).count() as u64),
        pods_exited_nonzero: match args.shutdown_mode {
            ShutdownMode::Graceful => {
                Some(pods.iter().filter(|pod| pod.code != Some(0)).count() as u64)
            }
            ShutdownMode::Immediate => None,
        },
        rollouts_outlasting_load,
        // Long jobs are resumed by the workers' rollouts only.
        rollouts: if args.roll.worker() { args.rollouts } else { 0 },
        tick_window: (!args.schedule_period.is_zero()).then_some((
            load_started_at,
            load_ended_at,
            args.schedule_period,
        )),
        context: Context {
            mode: match &upgrade {
                Some(_) if args.upgrade_workers => {
                    format!("local upgrade, {}", env_value(args.shutdown_mode))
                }
                Some(_) => format!(
                    "local upgrade of the api only (workers left on release N), {}",
                    env_value(args.shutdown_mode)
                ),
                None => format!("local, {}", env_value(args.shutdown_mode)),
            },
            settings: args.settings(),
            rate_target: args.load.rate,
            proxy: Some(proxy_stats),
            cpu,
            pods,
            ..Context::default()
        },
    };
    finish::judge_and_report(&pool, &recorder, &timeline, facts, &out).await
}

/// One deployment's rollout, or nothing when `--roll` leaves it alone.
async fn roll_if(deployment: &mut Deployment, roll: bool) -> anyhow::Result<()> {
    if roll {
        deployment.rollout().await
    } else {
        Ok(())
    }
}

/// Unique per run, so the verdict can pick this run's orders out of a
/// database that has others.
pub fn key_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("drill-{}-", &id[..12])
}

/// The environment a Deployment would set. The shutdown budget follows the
/// pod spec: the app's grace is what the preStop sleep leaves, and the app's
/// own drain delay is dropped when a preStop sleep does its job.
fn pod_env(args: &LocalArgs, role: Role) -> Vec<(String, String)> {
    let human = |d: Duration| humantime::format_duration(d).to_string();
    let drain_delay = match role {
        Role::Api if args.pre_stop.is_zero() => args.drain_delay,
        // No endpoint to wait for: a worker serves no traffic.
        _ => Duration::ZERO,
    };
    let mut env = vec![
        (
            "SHUTDOWN_GRACE_PERIOD",
            human(args.termination_grace_period - args.pre_stop),
        ),
        ("SHUTDOWN_DRAIN_DELAY", human(drain_delay)),
        ("SHUTDOWN_MODE", env_value(args.shutdown_mode)),
    ];
    if role == Role::Worker {
        env.extend([
            ("WORK_TIME", human(args.work_time)),
            ("WORKER_UNDECODABLE", env_value(args.worker_undecodable)),
            ("EXPORT_BATCH_TIME", human(args.long_job_step_time)),
            ("EXPORT_CHECKPOINTS", args.long_job_checkpoints.to_string()),
            ("WORKER_SCHEDULER", env_value(args.worker_scheduler)),
            ("QUEUE_LEASE", human(args.queue_lease)),
            ("QUEUE_HEARTBEAT", human(args.queue_lease / 3)),
            ("DATABASE_ACQUIRE_TIMEOUT", human(args.queue_lease / 3)),
            ("DATABASE_STATEMENT_TIMEOUT", human(args.queue_lease / 3)),
        ]);
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `api migrate`, as the migrate Job of a release runs it; its output goes
/// to `log_path`.
async fn migrate(api_bin: &Path, database_url: &str, log_path: &Path) -> anyhow::Result<()> {
    let log = std::fs::File::create(log_path)?;
    let status = tokio::process::Command::new(api_bin)
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .await
        .with_context(|| format!("cannot run {} migrate", api_bin.display()))?;
    if !status.success() {
        bail!(
            "`api migrate` failed ({status}); see {}",
            log_path.display()
        );
    }
    Ok(())
}
