//! How the SSE subscribers read a stream's ending.

use std::time::Duration;

use drill::load::record::Outcome;
use drill::load::watch::{EventLines, StreamEnd};

#[test]
fn the_fulfilled_status_ends_the_stream_even_split_across_chunks() {
    let mut lines = EventLines::default();
    assert_eq!(
        lines.feed(b"event: status\ndata: {\"status\":\"pending\"}\n\n"),
        None
    );
    assert_eq!(
        lines.feed(b"event: status\ndata: {\"id\":\"x\",\"sta"),
        None
    );
    assert_eq!(
        lines.feed(b"tus\":\"fulfilled\"}\n\n"),
        Some(StreamEnd::Fulfilled)
    );
}

#[test]
fn a_retry_hint_before_the_end_means_reconnect() {
    let mut lines = EventLines::default();
    assert_eq!(
        lines.feed(b"event: status\ndata: {\"status\":\"pending\"}\n\n"),
        None
    );
    assert_eq!(
        lines.feed(b"retry: 1000\r\n: server draining, reconnect\r\n\r\n"),
        None
    );
    assert_eq!(lines.at_end(), StreamEnd::Retry(Duration::from_secs(1)));
}

#[test]
fn an_end_without_either_is_a_failure() {
    let mut lines = EventLines::default();
    assert_eq!(
        lines.feed(b"event: status\ndata: {\"status\":\"pending\"}\n\n"),
        None
    );
    match lines.at_end() {
        StreamEnd::Failed(failure) => assert_eq!(failure.outcome, Outcome::Unexpected),
        other => panic!("expected a failure, got {other:?}"),
    }
}
