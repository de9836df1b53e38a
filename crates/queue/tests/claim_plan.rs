//! A claim costs the rows it takes, whatever the table's statistics said
//! when the worker's session planned it, and however many jobs of kinds it
//! does not run wait ahead of its own. Both are measured as the rows the
//! claim read from `jobs` (PostgreSQL's own count for the transaction), so
//! no plan that reads or sorts the backlog can pass: a sort must first read
//! every row it sorts.

mod common;

use std::time::Duration;

use queue::{Claimer, Job};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use testkit::TestDb;

use common::K;

const LEASE: Duration = Duration::from_secs(30);
const BACKLOG: i64 = 50_000;
const FREE_SLOTS: u32 = 64;

/// A kind no claimer here runs: a retired kind, or one a newer release added.
#[derive(serde::Serialize, serde::Deserialize)]
struct Unclaimed {}

/// The queue as a worker that started on an empty queue sees it: the
/// statistics of an empty table (and no autovacuum to renew them), and a
/// session with the worker's settings that has already claimed once, so
/// whatever plan it caches was made from those statistics.
async fn worker_session_planned_on_an_empty_queue(db: &TestDb) -> (PgConnection, Claimer) {
    sqlx::query("alter table jobs set (autovacuum_enabled = false)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("analyze jobs").execute(&db.pool).await.unwrap();
    let options: PgConnectOptions = db.url.parse().unwrap();
    let mut session =
        PgConnection::connect_with(&options.options(queue::SESSION_SETTINGS.iter().copied()))
            .await
            .unwrap();
    let claimer = Claimer::new(db.pool.clone(), "w", LEASE, [K::KIND]);
    for _ in 0..6 {
        // Six: past the five custom plans PostgreSQL tries before it caches
        // a generic one, in case the settings ever stop forcing it.
        let claimed = claimer.claim_on(&mut session, FREE_SLOTS).await.unwrap();
        assert!(claimed.is_empty());
    }
    (session, claimer)
}

async fn insert_available(db: &TestDb, kind: &str, count: i64) {
    sqlx::query("insert into jobs (kind) select $1 from generate_series(1, $2)")
        .bind(kind)
        .bind(count)
        .execute(&db.pool)
        .await
        .unwrap();
}

/// Claims once in a transaction of its own on `session`, and returns how
/// many jobs it took and how many rows of `jobs` it read to take them.
async fn claim_and_count_reads(session: &mut PgConnection, claimer: &Claimer) -> (usize, i64) {
    let mut tx = session.begin().await.unwrap();
    let before = rows_read_by_this_session(&mut tx).await;
    let claimed = claimer.claim_on(&mut *tx, FREE_SLOTS).await.unwrap();
    assert!(claimed.iter().all(|job| job.kind == K::KIND), "{claimed:?}");
    let after = rows_read_by_this_session(&mut tx).await;
    tx.rollback().await.unwrap();
    (claimed.len(), after - before)
}

/// Rows of `jobs` this session read by scans and index fetches and has not
/// yet reported to the statistics collector. Reports happen only between
/// transactions, so two readings in one transaction give what ran between
/// them; the view's name promises the transaction's own counts, but it
/// also holds the unreported ones of earlier transactions.
async fn rows_read_by_this_session(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
         from pg_stat_xact_user_tables where relname = 'jobs'",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

/// Each job taken is read twice (found in the claim index, then updated
/// through the primary key); anything beyond a few rows more is the plan
/// reading the backlog.
fn assert_reads_about_what_it_takes(claimed: usize, rows_read: i64) {
    assert_eq!(claimed, FREE_SLOTS as usize);
    assert!(
        rows_read <= 2 * claimed as i64 + 8,
        "a claim of {claimed} jobs read {rows_read} rows of a {BACKLOG}-job backlog"
    );
}

#[tokio::test]
async fn a_claim_planned_on_an_empty_queue_reads_only_what_it_takes_from_a_backlog() {
    let db = TestDb::new().await;
    let (mut session, claimer) = worker_session_planned_on_an_empty_queue(&db).await;
    insert_available(&db, K::KIND, BACKLOG).await;
    let (claimed, rows_read) = claim_and_count_reads(&mut session, &claimer).await;
    assert_reads_about_what_it_takes(claimed, rows_read);
}

#[tokio::test]
async fn jobs_of_kinds_no_claimer_runs_cost_a_claim_nothing() {
    let db = TestDb::new().await;
    let (mut session, claimer) = worker_session_planned_on_an_empty_queue(&db).await;
    // Older, so first in claim order: the claim must step over none of them.
    insert_available(&db, Unclaimed::KIND, BACKLOG).await;
    insert_available(&db, K::KIND, 2 * i64::from(FREE_SLOTS)).await;
    let (claimed, rows_read) = claim_and_count_reads(&mut session, &claimer).await;
    assert_reads_about_what_it_takes(claimed, rows_read);

    // And once the statistics know the backlog, the same.
    sqlx::query("analyze jobs").execute(&db.pool).await.unwrap();
    let (claimed, rows_read) = claim_and_count_reads(&mut session, &claimer).await;
    assert_reads_about_what_it_takes(claimed, rows_read);
}

#[tokio::test]
async fn a_claim_reads_only_its_kind_when_its_kind_is_much_of_the_queue() {
    let db = TestDb::new().await;
    let (mut session, claimer) = worker_session_planned_on_an_empty_queue(&db).await;
    // Statistics that know both kinds are common: an index ordered by
    // priority alone, filtering on the kind, would look nearly as cheap.
    insert_available(&db, Unclaimed::KIND, BACKLOG).await;
    insert_available(&db, K::KIND, BACKLOG).await;
    sqlx::query("analyze jobs").execute(&db.pool).await.unwrap();
    let (claimed, rows_read) = claim_and_count_reads(&mut session, &claimer).await;
    assert_reads_about_what_it_takes(claimed, rows_read);
}

impl Job for Unclaimed {
    const KIND: &'static str = "unclaimed";
}
