//! Event streams are bounded: by count, by lifetime, and by what they cost
//! the database (one shared LISTEN, no polling, one catch-up read after the
//! listener reconnects).

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;

use common::{error_of, start};

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
    let client = reqwest::Client::new();
    let order = api.create_order(&client).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let stream = api.open_events(&client, &order).await;
    let mut body = stream.bytes_stream();
    let mut text = String::new();
    while !text.contains("\n\n") {
        text.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    assert!(text.contains(r#""status":"pending""#), "{text}");

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
