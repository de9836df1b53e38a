//! What each request tells the drain: that it is in flight until its whole
//! response body is sent (an event stream is in flight while it streams),
//! how it ended relative to the shutdown, and, on HTTP/1.1 once a shutdown
//! has begun, that its connection closes after this response; and the
//! HTTP metrics, which count the same requests.
//!
//! One layer rather than three because all of it hangs on the same guard,
//! which lives in the response body: a response future that completes says
//! nothing about the body still streaming behind it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Version, header};
use axum::response::Response;
use hyper::body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use shutdown::{Counts, ShutdownHandle};
use tower::{Layer, Service};

use crate::metrics::{self, HttpMethod, HttpMetrics};

/// Shared by every request and by the shutdown hooks.
#[derive(Debug)]
pub struct RequestTracker {
    in_flight: AtomicU64,
    forcing: AtomicBool,
    shutdown: ShutdownHandle,
    metrics: HttpMetrics,
    /// The drain hook's counts: `requests_in_flight` at the signal, and
    /// `requests_drained`, every request that ended normally after it.
    pub drain_counts: Counts,
    /// The cancel hook's counts: `requests_forced`, cut off at the end.
    pub cancel_counts: Counts,
}

impl RequestTracker {
    pub fn new(shutdown: ShutdownHandle, metrics: HttpMetrics) -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicU64::new(0),
            forcing: AtomicBool::new(false),
            shutdown,
            metrics,
            drain_counts: Counts::default(),
            cancel_counts: Counts::default(),
        })
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// From now on a request that ends was cut off, not drained.
    pub fn begin_forcing(&self) {
        self.forcing.store(true, Ordering::SeqCst);
    }

    fn start(self: &Arc<Self>, method: HttpMethod) -> InFlightGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.metrics.request_started(method);
        InFlightGuard {
            tracker: self.clone(),
            method,
        }
    }
}

/// Dropped when the response body has been sent, or when the request is
/// abandoned (client gone, connection forced closed).
#[derive(Debug)]
struct InFlightGuard {
    tracker: Arc<RequestTracker>,
    method: HttpMethod,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let tracker = &self.tracker;
        tracker.in_flight.fetch_sub(1, Ordering::SeqCst);
        tracker.metrics.request_ended(self.method);
        if tracker.forcing.load(Ordering::SeqCst) {
            tracker.cancel_counts.add("requests_forced", 1);
        } else if tracker.shutdown.is_shutting_down() {
            tracker.drain_counts.add("requests_drained", 1);
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrackRequestsLayer(pub Arc<RequestTracker>);

impl<S> Layer<S> for TrackRequestsLayer {
    type Service = TrackRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackRequests {
            inner,
            tracker: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrackRequests<S> {
    inner: S,
    tracker: Arc<RequestTracker>,
}

impl<S> Service<Request> for TrackRequests<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackedResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let method = HttpMethod::of(request.method());
        let request_state = RequestState {
            guard: self.tracker.start(method),
            started: Instant::now(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            // HTTP/2 has no Connection header (GOAWAY does that job), and
            // hyper would strip it.
            http1: request.version() < Version::HTTP_2,
        };
        TrackedResponse {
            response: self.inner.call(request),
            request: Some(request_state),
        }
    }
}

/// What a request carries from its call to its response.
#[derive(Debug)]
struct RequestState {
    guard: InFlightGuard,
    started: Instant,
    route: Option<MatchedPath>,
    http1: bool,
}

pin_project! {
    pub struct TrackedResponse<F> {
        #[pin]
        response: F,
        request: Option<RequestState>,
    }
}

impl<F, E> Future for TrackedResponse<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.response.poll(cx))?;
        let request = this.request.take().expect("polled after completion");
        let tracker = &request.guard.tracker;
        if request.http1 && tracker.shutdown.is_shutting_down() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let route = request
            .route
            .as_ref()
            .map_or(metrics::UNMATCHED, MatchedPath::as_str);
        // The duration covers everything below this layer: load shedding,
        // limits, the timeout and the handler, up to the response head. Not
        // the body: an event stream would otherwise count minutes of
        // streaming as latency. Not what runs above (the trace span,
        // request ids), nor reading the request head.
        tracker.metrics.responded(
            request.guard.method,
            route,
            response.status().as_u16(),
            request.started.elapsed(),
        );
        let guard = request.guard;
        Poll::Ready(Ok(response.map(|body| {
            Body::new(GuardedBody {
                inner: body,
                _guard: guard,
            })
        })))
    }
}

/// A body that holds its request's in-flight guard until it is dropped.
struct GuardedBody {
    inner: Body,
    _guard: InFlightGuard,
}

impl hyper::body::Body for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
