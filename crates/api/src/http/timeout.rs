//! The per-request timeout.
//!
//! Written here rather than taken from tower-http because tower-http's
//! `Timeout` polls its timer before the request, so every request registers
//! with tokio's timer wheel and deregisters again, even one whose response is
//! ready on the first poll. This one polls the
//! request first and only arms a timer for a request that has to wait.
//!
//! A timed-out request may have taken effect: the handler is dropped
//! wherever it was, a commit included. 503 with Retry-After says "retry",
//! which is safe only for a request that can be repeated: an idempotent
//! method, or one with an `Idempotency-Key`. Any other gets 500
//! `outcome_unknown`, without Retry-After.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::task::coop::{Unconstrained, unconstrained};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::routes::orders::IDEMPOTENCY_KEY;

#[derive(Debug, Clone, Copy)]
pub struct RequestTimeoutLayer(pub Duration);

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> Service<Request<B>> for RequestTimeout<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let repeatable =
            request.method().is_idempotent() || request.headers().contains_key(IDEMPOTENCY_KEY);
        TimeoutFuture {
            repeatable,
            // The clock starts now, not when the timer is armed.
            deadline: Instant::now() + self.timeout,
            response: self.inner.call(request),
            timer: None,
        }
    }
}

pin_project! {
    pub struct TimeoutFuture<F> {
        #[pin]
        response: F,
        // Outside tokio's task budget, as `tokio::time::timeout` polls its
        // timer: a handler that spends the budget on every poll would
        // otherwise keep the timer from ever firing.
        #[pin]
        timer: Option<Unconstrained<Sleep>>,
        deadline: Instant,
        // Whether a retry is safe whatever the request did before it was cut.
        repeatable: bool,
    }
}

impl<F, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.response.poll(cx) {
            return Poll::Ready(result);
        }
        if this.timer.is_none() {
            this.timer.set(Some(unconstrained(tokio::time::sleep_until(
                *this.deadline,
            ))));
        }
        let timer = this.timer.as_pin_mut().expect("armed above");
        ready!(timer.poll(cx));
        let error = if *this.repeatable {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took longer than API_REQUEST_TIMEOUT",
            )
        } else {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "outcome_unknown",
                "the request took longer than API_REQUEST_TIMEOUT and may have taken effect: retry only with an Idempotency-Key",
            )
        };
        Poll::Ready(Ok(error.into_response()))
    }
}
