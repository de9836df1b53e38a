//! `worker`: runs jobs from the PostgreSQL queue.
//!
//! Start-up, then the shutdown order:
//! 1. readiness 503 (announce);
//! 2. stop claiming and UNLISTEN; stop enqueueing schedules' ticks, rescuing
//!    and sweeping (stop intake);
//! 3. running jobs go on, with their heartbeats, until the drain budget ends;
//!    a job that works in steps is interrupted at its next step boundary
//!    instead, and released with its cursor;
//! 4. cancel the rest: a job that returns cancelled is released, fenced; a
//!    job that ignores cancellation is left to its lease, never released
//!    while it runs;
//! 5. stop the heartbeat, and flush telemetry (flush);
//! 6. stop the queue sampler and the ops server, and close the pool,
//!    bounded (close).

use std::process::ExitCode;
use std::sync::Arc;

use queue::Claimer;
use service::hooks;
use service::ops::{self, OpsState};
use shutdown::{Counts, Phase};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use worker::completer::Completer;
use worker::config::{Args, Command};
use worker::handlers::{self, Dependencies};
use worker::held::Held;
use worker::runner::Runner;
use worker::scheduler::Scheduler;
use worker::tally::Tally;
use worker::{metrics, upkeep};

#[tokio::main]
async fn main() -> ExitCode {
    // --- Start-up: configuration first, so bad config serves nothing. ---
    let args: Args = service::parse_args_or_exit();
    if let Some(Command::Jobs { command }) = args.command {
        return worker::operator::run(command, &args.database).await;
    }
    if let Err(error) = args.validate() {
        service::exit::bad_config(error);
    }
    // Built once: the clients and settings the handlers own.
    let dependencies = Dependencies {
        work_time: args.work_time,
        export_batch_time: args.export_batch_time,
        export_checkpoints: args.export_checkpoints,
    };
    let handlers = match handlers::standard(&dependencies).only_if(&args.worker_kinds) {
        Ok(handlers) => Arc::new(handlers),
        Err(error) => service::exit::bad_config(error),
    };
    let schedules = match args.schedules(domain::SCHEDULES) {
        Ok(schedules) => schedules,
        Err(error) => service::exit::bad_config(error),
    };
    let mut shutdown = args.shutdown.build_or_exit();
    let telemetry = args.log.init_or_exit();
    service::shutdown_metrics::record(&mut shutdown);
    let handle = shutdown.handle();

    let database = args.database_for_job_slots();
    let pool = match service::db::connect_with(&database, queue::SESSION_SETTINGS).await {
        Ok(pool) => pool,
        Err(error) => return service::exit::database_at_start(error),
    };

    let ops_state = OpsState::new(handle.readiness(), Some(&pool), &telemetry);
    let ops = ops::serve_or_exit(
        args.ops_listen_addr,
        ops_state,
        handle.phase_started(Phase::Close),
    )
    .await;

    // The pool's connections opened one at a time, and the claim prepared
    // on each, before the first claim. Not fatal: in an upgrade the worker
    // may start before its migrate Job has created what the claim names,
    // and claims nothing until it has.
    let warm = service::db::warm(&pool, &[queue::CLAIM]);
    if let Err(error) = warm.await {
        tracing::warn!(%error, "could not warm the pool: the claim is prepared at first use");
    }

    let worker_id = args.worker_id();
    let claimer = Claimer::new(
        pool.clone(),
        worker_id.clone(),
        args.queue_lease,
        handlers.kinds(),
    );
    let cancel_jobs = CancellationToken::new();
    let tally = Tally {
        shutting_down: handle.phase_started(Phase::Announce),
        cancelling: cancel_jobs.clone(),
        drain: Counts::default(),
        cancel: Counts::default(),
    };
    let runner = Runner {
        claimer: claimer.clone(),
        handlers: handlers.clone(),
        concurrency: args.worker_concurrency,
        poll_interval: args.queue_poll_interval,
        claim_cooldown: args.queue_claim_cooldown,
        call_bound: args.database.call_bound(),
        held: Held::new(args.queue_lease),
        jobs: TaskTracker::new(),
        cancel_jobs: cancel_jobs.clone(),
        completer: Completer::spawn(pool.clone(), args.database.call_bound()),
        tally: tally.clone(),
        metrics: metrics::JobMetrics::new(),
        undecodable: args.worker_undecodable,
        slow_step_after: shutdown.budget().drain / 2,
    };
    // Each loop stops on the token of the phase it belongs to, and is
    // awaited as a hook of that phase below.
    let claim_loop = tokio::spawn(
        runner
            .clone()
            .claim_until(handle.phase_started(Phase::StopIntake)),
    );
    let scheduler = tokio::spawn(
        Scheduler {
            pool: pool.clone(),
            schedules,
            mode: args.worker_scheduler,
            call_bound: args.database.call_bound(),
        }
        .run(handle.phase_started(Phase::StopIntake)),
    );
    let rescuer = tokio::spawn(upkeep::rescue(
        claimer.clone(),
        args.queue_heartbeat,
        runner.metrics.clone(),
        handle.phase_started(Phase::StopIntake),
    ));
    let sweeper = tokio::spawn(upkeep::sweep(
        pool.clone(),
        args.retention(),
        runner.metrics.clone(),
        handle.phase_started(Phase::StopIntake),
    ));
    let heartbeat = tokio::spawn(upkeep::heartbeat(
        claimer,
        runner.held.clone(),
        args.queue_heartbeat,
        handle.phase_started(Phase::Flush),
    ));
    let sampler = tokio::spawn(metrics::sample_queue(
        pool.clone(),
        args.queue_heartbeat,
        handlers.kinds(),
        handle.phase_started(Phase::Close),
    ));
    handle.readiness().mark_started();
    tracing::info!(ops_addr = %ops.addr, %worker_id, concurrency = args.worker_concurrency, kinds = ?handlers.kinds(), "worker ready");

    // --- Shutdown, in phase order. ---
    shutdown.on_reload("log filter", hooks::reload_logs(&telemetry));
    shutdown.on(
        Phase::StopIntake,
        "claim loop",
        hooks::task_ended(claim_loop),
    );
    shutdown.on(Phase::StopIntake, "scheduler", hooks::task_ended(scheduler));
    shutdown.on(Phase::StopIntake, "rescuer", hooks::task_ended(rescuer));
    shutdown.on(Phase::StopIntake, "sweeper", hooks::task_ended(sweeper));
    let (jobs, held) = (runner.jobs.clone(), runner.held.clone());
    shutdown.on_counted(
        Phase::Drain,
        "jobs",
        tally.drain.clone(),
        move |ctx| async move {
            ctx.counts().set("jobs_in_flight", jobs.len() as u64);
            // Jobs that work in steps stop at their next step boundary and
            // resume elsewhere from their cursor; the rest get the budget.
            held.interrupt_all();
            jobs.close();
            jobs.wait().await;
            Ok(())
        },
    );
    let jobs = runner.jobs.clone();
    shutdown.on_counted(
        Phase::Cancel,
        "jobs",
        tally.cancel.clone(),
        move |ctx| async move {
            ctx.counts().set("jobs_abandoned", jobs.len() as u64);
            jobs.close();
            cancel_jobs.cancel();
            jobs.wait().await;
            Ok(())
        },
    );
    // The heartbeat stops as the flush phase starts: any job still running
    // now was abandoned, and its lease must be left to expire so that
    // another worker rescues it.
    shutdown.on(Phase::Flush, "heartbeat", hooks::task_ended(heartbeat));
    shutdown.on(
        Phase::Flush,
        "telemetry",
        hooks::flush_telemetry(&telemetry),
    );
    shutdown.on(Phase::Close, "queue sampler", hooks::task_ended(sampler));
    shutdown.on(Phase::Close, "ops server", move |_ctx| ops.stopped());
    shutdown.on(Phase::Close, "database pool", move |_ctx| {
        service::db::close(pool)
    });

    let report = shutdown.run().await;
    service::exit::finish(&report, args.log.log_format)
}
