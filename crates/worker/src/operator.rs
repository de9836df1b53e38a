//! `worker jobs`: an operator's tools for the queue, in the image already,
//! run as `kubectl exec deploy/worker -- worker jobs …` or as a one-off
//! Job. Every change goes through `queue::operator`, whose statements act
//! only on the states they name, and is checked first: a bad id, or a job
//! in a state the action cannot touch, exits 2 and changes nothing.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use queue::JobId;
use queue::operator::{self, Changed, Filter, JobRow};
use service::DatabaseArgs;
use sqlx::PgPool;
use time::OffsetDateTime;

#[derive(Debug, Clone, Subcommand)]
pub enum JobsCommand {
    /// Jobs by state, kind and age, newest first.
    List {
        /// available, running, completed or discarded; repeat for several.
        #[arg(long, value_parser = ["available", "running", "completed", "discarded"])]
        state: Vec<String>,
        #[arg(long)]
        kind: Option<String>,
        /// Only jobs created at least this long ago (`10m`, `2h`).
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Option<Duration>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// One JSON object per line, for a script.
        #[arg(long)]
        json: bool,
    },
    /// One job in full: payload, attempts, last_error, lease, trace.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Runs discarded or waiting jobs again now, with an attempt left.
    Retry {
        /// The jobs; or none, with --kind: every discarded job of the kind.
        ids: Vec<i64>,
        #[arg(long, conflicts_with = "ids")]
        kind: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Discards waiting jobs, with the reason kept in last_error.
    Discard {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[arg(long, default_value = "discarded by an operator")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Cancels jobs: a waiting one is discarded; a running one's worker is
    /// told at its next heartbeat, cancels the handler, and discards it.
    Cancel {
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Who cancels, kept in last_error.
        #[arg(long, default_value = "an operator")]
        by: String,
        /// How long to wait for running jobs to end.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        wait: Duration,
        #[arg(long)]
        json: bool,
    },
}

/// Runs one command against the queue's database and says how it went.
pub async fn run(command: JobsCommand, database: &DatabaseArgs) -> ExitCode {
    let pool = match service::db::connect_with(database, &[]).await {
        Ok(pool) => pool,
        Err(error) => return service::exit::database_at_start(error),
    };
    let outcome = match command {
        JobsCommand::List {
            state,
            kind,
            older_than,
            limit,
            json,
        } => {
            let filter = Filter {
                states: state,
                kind,
                older_than,
                limit,
            };
            operator::list(&pool, &filter)
                .await
                .map(|rows| print_rows(&rows, json))
                .map_err(Refused::from)
        }
        JobsCommand::Show { id, json } => show(&pool, JobId(id), json).await,
        JobsCommand::Retry { ids, kind, json } => retry(&pool, ids, kind, json).await,
        JobsCommand::Discard { ids, reason, json } => {
            act(&pool, &ids, &["available"], json, async |tx, ids| {
                operator::discard(tx, ids, &reason).await
            })
            .await
        }
        JobsCommand::Cancel {
            ids,
            by,
            wait,
            json,
        } => cancel(&pool, &ids, &by, wait, json).await,
    };
    pool.close().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Refused::Input(message)) => {
            eprintln!("worker jobs: {message}; nothing was changed");
            ExitCode::from(2)
        }
        Err(Refused::Database(error)) => {
            eprintln!("worker jobs: the database failed: {error}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
enum Refused {
    /// A bad id or filter: exit 2.
    Input(String),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for Refused {
    fn from(error: sqlx::Error) -> Self {
        Refused::Database(error)
    }
}

async fn show(pool: &PgPool, id: JobId, json: bool) -> Result<(), Refused> {
    let Some(row) = operator::find(pool, &[id]).await?.pop() else {
        return Err(Refused::Input(format!("no job {id}")));
    };
    if json {
        println!("{}", serde_json::to_string(&row).unwrap_or_default());
        return Ok(());
    }
    let value = serde_json::to_value(&row).unwrap_or_default();
    for (name, value) in value.as_object().into_iter().flatten() {
        println!("{name:>20}  {}", plain(value));
    }
    Ok(())
}

async fn retry(
    pool: &PgPool,
    ids: Vec<i64>,
    kind: Option<String>,
    json: bool,
) -> Result<(), Refused> {
    let ids = match (ids.is_empty(), kind) {
        (false, _) => ids,
        (true, Some(kind)) => {
            let filter = Filter {
                states: vec!["discarded".to_owned()],
                kind: Some(kind.clone()),
                older_than: None,
                limit: 10_000,
            };
            let rows = operator::list(pool, &filter).await?;
            if rows.is_empty() {
                return Err(Refused::Input(format!("no discarded `{kind}` job")));
            }
            rows.iter().map(|row| row.id.0).collect()
        }
        (true, None) => return Err(Refused::Input("name the jobs, or --kind".to_owned())),
    };
    act(
        pool,
        &ids,
        &["discarded", "available"],
        json,
        async |tx, ids| operator::retry(tx, ids).await,
    )
    .await
}

async fn cancel(
    pool: &PgPool,
    ids: &[i64],
    by: &str,
    wait: Duration,
    json: bool,
) -> Result<(), Refused> {
    let states = ["available", "running"];
    let changed = checked(pool, ids, &states, async |tx, ids| {
        operator::request_cancel(tx, ids, by).await
    })
    .await?;
    let (running, ended): (Vec<Changed>, Vec<Changed>) = changed
        .into_iter()
        .partition(|change| change.to == "running");
    print_changes(&ended, json);
    // A running job ends by its own worker's hand: wait for it, and say.
    let deadline = tokio::time::Instant::now() + wait;
    let mut waiting: Vec<JobId> = running.iter().map(|change| change.id).collect();
    while !waiting.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rows = operator::find(pool, &waiting).await?;
        let (still, done): (Vec<JobRow>, Vec<JobRow>) =
            rows.into_iter().partition(|row| row.state == "running");
        let done: Vec<Changed> = done
            .into_iter()
            .map(|row| Changed {
                id: row.id,
                kind: row.kind,
                from: "running".to_owned(),
                to: row.state,
            })
            .collect();
        print_changes(&done, json);
        waiting = still.into_iter().map(|row| row.id).collect();
    }
    for id in waiting {
        eprintln!(
            "worker jobs: job {id} still runs after {}: the cancel stands; its worker is told at its next heartbeat, and it ends discarded when its handler stops or its lease runs out",
            humantime::format_duration(wait)
        );
    }
    Ok(())
}

/// Checks every id exists and is in one of `states`, then runs `action` on
/// them, in one transaction whose rows are locked from the check on, and
/// prints what changed.
async fn act(
    pool: &PgPool,
    ids: &[i64],
    states: &[&str],
    json: bool,
    action: impl AsyncFnOnce(&mut sqlx::PgConnection, &[JobId]) -> Result<Vec<Changed>, sqlx::Error>,
) -> Result<(), Refused> {
    let changed = checked(pool, ids, states, action).await?;
    print_changes(&changed, json);
    Ok(())
}

async fn checked(
    pool: &PgPool,
    ids: &[i64],
    states: &[&str],
    action: impl AsyncFnOnce(&mut sqlx::PgConnection, &[JobId]) -> Result<Vec<Changed>, sqlx::Error>,
) -> Result<Vec<Changed>, Refused> {
    let ids: Vec<JobId> = ids.iter().copied().map(JobId).collect();
    let mut tx = pool.begin().await?;
    sqlx::query("select id from jobs where id = any($1) order by id for update")
        .bind(ids.iter().map(|id| id.0).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    let rows = operator::find(&mut *tx, &ids).await?;
    for id in &ids {
        match rows.iter().find(|row| row.id == *id) {
            None => return Err(Refused::Input(format!("no job {id}"))),
            Some(row) if !states.contains(&row.state.as_str()) => {
                return Err(Refused::Input(format!(
                    "job {id} is {}: this acts only on {} jobs",
                    row.state,
                    states.join(" or ")
                )));
            }
            Some(_) => {}
        }
    }
    let changed = action(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(changed)
}

fn print_changes(changed: &[Changed], json: bool) {
    for change in changed {
        if json {
            println!("{}", serde_json::to_string(change).unwrap_or_default());
        } else {
            println!(
                "job {} ({}): {} → {}",
                change.id, change.kind, change.from, change.to
            );
        }
    }
}

fn print_rows(rows: &[JobRow], json: bool) {
    if json {
        for row in rows {
            println!("{}", serde_json::to_string(row).unwrap_or_default());
        }
        return;
    }
    println!(
        "{:>10}  {:<16} {:<10} {:>7}  {:>9}  last_error",
        "id", "kind", "state", "attempt", "age"
    );
    let now = OffsetDateTime::now_utc();
    for row in rows {
        let age = (now - row.created_at).whole_seconds().max(0) as u64;
        let age = humantime::format_duration(Duration::from_secs(age)).to_string();
        let error: String = row
            .last_error
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        println!(
            "{:>10}  {:<16} {:<10} {:>7}  {:>9}  {error}",
            row.id.0,
            row.kind,
            row.state,
            format!("{}/{}", row.attempt, row.max_attempts),
            age.split(' ').next().unwrap_or_default()
        );
    }
}

/// A JSON value as a person reads it: strings without quotes.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}
