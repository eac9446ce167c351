//! The dashboard's HTTP side: the page and its scripts (embedded in the binary, the chart
//! library included), and `/events`, the server-sent event stream of one browser.
//!
//! A browser's stream starts with a `snapshot` event (every chart's bars, the recent signals,
//! the health report, and the sequence number they are at), then one `bar` or `health` event
//! per change, numbered one after the other. A stream ends when its browser leaves (which costs
//! the server nothing further: its receiver is dropped with the stream) or when it fell
//! `client_queue` events behind; the browser's `EventSource` then reconnects within a second
//! and starts over from a new snapshot.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::Stream;
use service::metrics::Counter;
use service::shutdown::Shutdown;
use tokio::sync::broadcast::error::RecvError;
// The page, its scripts and styles; `chart.js` is the component the backtest report shares,
// lightweight-charts comes from npm through the `web` crate's build.
use web::{CHART_JS, DASHBOARD_HTML as INDEX, DASHBOARD_JS, LIGHTWEIGHT_CHARTS_JS};

use super::book::{Book, Event};

/// How soon a browser reconnects after its stream ended.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Shared {
    book: Book,
    dropped: Counter,
    shutdown: Shutdown,
}

/// The routes; `dropped` counts streams ended because their browser fell behind; every
/// stream ends at `shutdown` (a graceful stop waits for open connections).
pub fn router(book: Book, dropped: Counter, shutdown: Shutdown) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route("/dashboard.js", get(|| async { page(JS, DASHBOARD_JS) }))
        .route("/chart.js", get(|| async { page(JS, CHART_JS) }))
        .route(
            "/vendor/lightweight-charts.js",
            get(|| async { page(JS, LIGHTWEIGHT_CHARTS_JS) }),
        )
        .route("/events", get(events))
        .with_state(Arc::new(Shared {
            book,
            dropped,
            shutdown,
        }))
}

const JS: &str = "text/javascript; charset=utf-8";

fn page(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

async fn events(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let subscription = shared.book.subscribe();
    Sse::new(stream(
        subscription,
        shared.dropped.clone(),
        shared.shutdown.clone(),
    ))
    .keep_alive(KeepAlive::default())
}

fn sse(event: &Event) -> SseEvent {
    SseEvent::default()
        .event(event.name)
        .id(event.seq.to_string())
        .data(&event.data)
}

/// The snapshot, then every change until the browser leaves or falls behind.
fn stream(
    subscription: super::book::Subscription,
    dropped: Counter,
    shutdown: Shutdown,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let first = sse(&subscription.snapshot).retry(RETRY);
    futures_util::stream::unfold(
        (Some(first), subscription.events, dropped, shutdown),
        |(first, mut events, dropped, mut shutdown)| async move {
            if let Some(first) = first {
                return Some((Ok(first), (None, events, dropped, shutdown)));
            }
            let next = tokio::select! {
                _ = shutdown.recv() => return None,
                next = events.recv() => next,
            };
            match next {
                Ok(event) => Some((Ok(sse(&event)), (None, events, dropped, shutdown))),
                Err(RecvError::Lagged(missed)) => {
                    dropped.inc();
                    tracing::info!(
                        missed,
                        "a browser fell behind; it reconnects and starts over"
                    );
                    None
                }
                Err(RecvError::Closed) => None,
            }
        },
    )
}
