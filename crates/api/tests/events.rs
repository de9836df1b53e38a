//! Event streams are bounded: by count, by lifetime, and by what they cost
//! the database (one shared LISTEN, no polling, one catch-up read after the
//! listener reconnects).

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;

use common::{error_of, start};

/// Reads `body` until what it sent holds `text`: all it sent, or, if the
/// stream ended or `within` ran out first, all it sent as the error.
async fn read_until(
    body: &mut (impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
    text: &str,
    within: Duration,
) -> Result<String, String> {
    let mut sent = String::new();
    let read = tokio::time::timeout(within, async {
        while !sent.contains(text) {
            let Some(chunk) = body.next().await else {
                return false;
            };
            sent.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        true
    })
    .await;
    if read == Ok(true) {
        Ok(sent)
    } else {
        Err(sent)
    }
}

/// A new order's id, and its event stream once it has said `pending`.
async fn a_pending_orders_stream(
    api: &common::Api,
) -> (
    String,
    impl futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin,
) {
    let client = reqwest::Client::new();
    let order = api.create_order(&client).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let stream = api.open_events(&client, &order).await;
    let mut body = stream.bytes_stream();
    let text = read_until(&mut body, "\n\n", Duration::from_secs(10))
        .await
        .expect("the first event");
    assert!(text.contains(r#""status":"pending""#), "{text}");
    (id, body)
}

/// Reads a stream until it ends; everything it sent, and how long it took.
/// `None` if it was still open after `within`.
async fn read_to_end(response: reqwest::Response, within: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    loop {
        match tokio::time::timeout_at((started + within).into(), body.next()).await {
            Err(_) => return None,
            Ok(None) => return Some((text, started.elapsed())),
            Ok(Some(chunk)) => text.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
        }
    }
}

#[tokio::test]
async fn past_api_max_event_streams_a_stream_gets_503_with_retry_after() {
    let api = start(&[("API_MAX_EVENT_STREAMS", "1")]).await;
    let client = reqwest::Client::new();
    let order = api.create_order(&client).await;

    let first = api.open_events(&client, &order).await;
    assert_eq!(first.status(), 200);
    let refused = api.open_events(&client, &order).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    error_of(refused, 503, "too_many_streams").await;

    // The slot is the stream's: it frees when the client goes away.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let next = api.open_events(&client, &order).await;
        if next.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stream_ends_with_a_retry_hint_at_its_lifetime() {
    let api = start(&[("API_EVENT_STREAM_LIFETIME", "1s")]).await;
    let client = reqwest::Client::new();
    let order = api.create_order(&client).await;
    let stream = api.open_events(&client, &order).await;
    let (text, after) = read_to_end(stream, Duration::from_secs(5))
        .await
        .expect("the stream ends at its lifetime");
    assert!(text.starts_with("event: status\n"), "{text}");
    assert!(text.contains("retry: 1000\n"), "{text}");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "ended after {after:?}"
    );
}

/// No stream polls: a change made without a notification is not seen. When
/// the shared listener loses its connection and gets it back, every stream
/// reads its order once, and so catches up on what the gap swallowed.
#[tokio::test]
async fn streams_do_not_poll_and_catch_up_when_the_listener_reconnects() {
    let api = start(&[]).await;
    let (id, mut body) = a_pending_orders_stream(&api).await;

    // Fulfilled as if its notification were lost.
    sqlx::query("update orders set status = 'fulfilled', fulfilled_at = now() where id = $1::uuid")
        .bind(&id)
        .execute(&api.db.pool)
        .await
        .unwrap();
    let quiet = tokio::time::timeout(Duration::from_secs(3), body.next()).await;
    assert!(
        quiet.is_err() || !format!("{quiet:?}").contains("fulfilled"),
        "a stream read its order without being told to: {quiet:?}"
    );

    // The api's LISTEN connection is cut; it reconnects by itself.
    let cut: i64 = sqlx::query_scalar(
        "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and query like 'LISTEN %') terminated",
    )
    .fetch_one(&api.db.pool)
    .await
    .unwrap();
    assert_eq!(cut, 1, "the api holds one LISTEN connection");
    let mut rest = String::new();
    let caught_up = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(caught_up.is_ok(), "the stream did not end: {rest}");
    assert!(rest.contains(r#""status":"fulfilled""#), "{rest}");
}

/// The network drops every connection to the database without a word (a
/// failover, a partition, a NAT's idle drop): no error arrives, and before
/// the listener pinged, no stream heard of its order again. A change made
/// meanwhile reaches the open stream once the listener's ping goes
/// unanswered and it reconnects: within PING_EVERY (5 s) + PING_TIMEOUT
/// (2 s), a reconnect, and a catch-up read retried past dead pooled
/// connections. Bound stated here: 20 s.
#[tokio::test]
async fn a_stream_hears_of_its_order_after_the_database_link_was_silently_dropped() {
    let db = testkit::TestDb::new().await;
    let (proxy, proxied_url) = testkit::TcpProxy::in_front_of(&db.url).await;
    let api = common::start_on(
        db,
        &[
            ("DATABASE_URL", &proxied_url),
            ("DATABASE_ACQUIRE_TIMEOUT", "1s"),
        ],
    )
    .await;
    let (id, mut body) = a_pending_orders_stream(&api).await;

    proxy.black_hole_open_connections();
    let dropped = Instant::now();
    // Fulfilled, and notified, as the worker does, on a connection of its
    // own: the api's LISTEN never hears it.
    let mut tx = api.db.pool.begin().await.unwrap();
    sqlx::query("update orders set status = 'fulfilled', fulfilled_at = now() where id = $1::uuid")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("select pg_notify($1, $2)")
        .bind(domain::ORDER_STATUS_CHANNEL)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let heard = read_until(
        &mut body,
        r#""status":"fulfilled""#,
        Duration::from_secs(20),
    )
    .await;
    eprintln!("heard after {:?}", dropped.elapsed());
    assert!(heard.is_ok(), "nothing within 20 s: {heard:?}");
}

/// A catch-up read that fails (here: it waits on a table lock past its
/// 2 s bound) is tried again until it succeeds. Read once, the stream
/// never heard of its order again.
#[tokio::test]
async fn a_failed_catch_up_read_is_retried_until_it_succeeds() {
    let api = start(&[]).await;
    let (id, mut body) = a_pending_orders_stream(&api).await;

    let mut locked = api.db.pool.begin().await.unwrap();
    sqlx::query("lock table orders in access exclusive mode")
        .execute(&mut *locked)
        .await
        .unwrap();
    sqlx::query("select pg_notify($1, $2)")
        .bind(domain::ORDER_STATUS_CHANNEL)
        .bind(&id)
        .execute(&api.db.pool)
        .await
        .unwrap();
    api.service
        .wait_for_message("cannot re-read order; retrying", Duration::from_secs(10))
        .await;
    sqlx::query("update orders set status = 'fulfilled', fulfilled_at = now() where id = $1::uuid")
        .bind(&id)
        .execute(&mut *locked)
        .await
        .unwrap();
    locked.commit().await.unwrap();

    let heard = read_until(
        &mut body,
        r#""status":"fulfilled""#,
        Duration::from_secs(10),
    )
    .await;
    assert!(heard.is_ok(), "nothing within 10 s: {heard:?}");
}
