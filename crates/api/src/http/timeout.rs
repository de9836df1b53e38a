//! The per-request timeout.
//!
//! Written here rather than taken from tower-http because tower-http's
//! `Timeout` polls its timer before the request, so every request registers
//! with tokio's timer wheel and deregisters again, even one whose response is
//! ready on the first poll. This one polls the
//! request first and only arms a timer for a request that has to wait.

use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use tokio::time::Instant;
use tower::{Layer, Service};

use crate::error::ApiError;

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

impl<S, R> Service<R> for RequestTimeout<S>
where
    S: Service<R, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The clock starts now, not when the timer is armed.
        let deadline = Instant::now() + self.timeout;
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = std::pin::pin!(response);
            if let Poll::Ready(result) = futures::poll!(response.as_mut()) {
                return result;
            }
            match tokio::time::timeout_at(deadline, response).await {
                Ok(result) => result,
                Err(_) => Ok(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    "the request took longer than API_REQUEST_TIMEOUT",
                )
                .into_response()),
            }
        })
    }
}
