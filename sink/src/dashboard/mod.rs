//! `sink dashboard`: a live web page of the strategy's bars, indicators, signals and the
//! pipeline's health, served to any number of browsers.
//!
//! It is one more reader of the signals topic. With the strategy's `rules.every_bar` on, the
//! Spark query writes every closed bar (HOLD when no rule fired), so the candles and indicator
//! values on the page are Spark's own, never computed a second time here.
//!
//! Library users bind first (to learn the port), then run, as with the receiver.
//!
//! ## Layout
//! - [`settings`](DashboardSettings): the settings and their defaults.
//! - `book`: the bounded history and the numbered stream of changes browsers follow.
//! - `kafka`: reading the topic into the book, and whether Kafka answers.
//! - `health`: the health strip, polled from each piece's metrics.
//! - `http`: the page, its scripts and the server-sent events.
//!
//! The page itself is `web/` at the top of the repository: `dashboard.html` and
//! `dashboard.js`, and `chart.js`, the chart component the backtest report shares.

mod book;
mod health;
mod http;
mod kafka;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

use service::exit::InvalidSettings;
use service::metrics::{Counter, Registry};
use service::shutdown::Shutdown;
use tokio::net::TcpListener;

pub use settings::{DashboardSettings, DEFAULT_LISTEN};

use crate::forward::ConsumerError;
use crate::line;
use book::{Book, Limits};
use kafka::KafkaState;

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Settings(#[from] InvalidSettings),
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics server: {0}")]
    Metrics(std::io::Error),
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
}

/// Counts at exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub bars: u64,
    pub skipped: u64,
    pub dropped_clients: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bars={} skipped={} dropped_clients={}",
            self.bars, self.skipped, self.dropped_clients
        )
    }
}

/// A bound, not yet running dashboard.
pub struct Dashboard {
    listener: TcpListener,
    settings: DashboardSettings,
    book: Book,
    registry: Registry,
    bars: Counter,
    dropped: Counter,
}

/// Binds and runs until `shutdown`; what `sink dashboard` does.
pub async fn run(
    settings: DashboardSettings,
    shutdown: Shutdown,
) -> Result<Summary, DashboardError> {
    Dashboard::bind(settings).await?.run(shutdown).await
}

impl Dashboard {
    /// Validates the settings and binds the listener; nothing is read or served yet.
    pub async fn bind(settings: DashboardSettings) -> Result<Self, DashboardError> {
        settings.validate()?;
        settings
            .kafka
            .check_owned(kafka::OWNED_KEYS)
            .map_err(ConsumerError::from)?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| DashboardError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let registry = Registry::new("sink");
        let book = Book::new(Limits {
            history_bars: settings.history_bars,
            recent_signals: settings.recent_signals,
            client_queue: settings.client_queue,
        });
        Ok(Self {
            listener,
            bars: registry.counter("dashboard_bars_total", "Bars read from the signals topic."),
            dropped: registry.counter(
                "dashboard_clients_dropped_total",
                "Browser streams ended because the browser fell --client-queue events behind (it reconnects).",
            ),
            settings,
            book,
            registry,
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The dashboard's metrics (`sink_dashboard_*`, `sink_skipped_total`).
    pub fn metrics(&self) -> Registry {
        self.registry.clone()
    }

    /// Reads the topic, polls health and serves browsers until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) -> Result<Summary, DashboardError> {
        let metric_tasks = self
            .settings
            .metrics
            .start(&self.registry, &shutdown)
            .await
            .map_err(DashboardError::Metrics)?;
        let skipped = line::skipped(
            &self.registry,
            "Records on the topic that are not signals, by kind.",
        );
        let state = Arc::new(std::sync::Mutex::new(KafkaState::default()));
        let s = &self.settings;
        let consumer = kafka::create(&s.kafka, state.clone())?;
        let reader = tokio::spawn(kafka::run(
            consumer,
            s.topic.clone(),
            s.replay_records,
            self.book.clone(),
            (self.bars.clone(), skipped),
            state.clone(),
            shutdown.clone(),
        ));
        let health = tokio::spawn(health::run(
            health::Sources {
                topic: s.topic.clone(),
                ingest: s.ingest_metrics_url.clone(),
                forwarder: s.forwarder_metrics_url.clone(),
                receiver: s.receiver_metrics_url.clone(),
                spark_ui: s.spark_ui_url.clone(),
                interval: s.health_interval,
                stale_after: s.stale_after,
            },
            state,
            self.book.clone(),
            shutdown.clone(),
        ));
        let addr = self.local_addr();
        tracing::info!(url = %format!("http://{addr}/"), topic = %s.topic, "dashboard serving");
        let mut stop = shutdown.clone();
        axum::serve(
            self.listener,
            http::router(self.book.clone(), self.dropped.clone(), shutdown.clone()),
        )
        .with_graceful_shutdown(async move { stop.recv().await })
        .await
        .map_err(DashboardError::Serve)?;
        let _ = reader.await;
        let _ = health.await;
        for task in metric_tasks {
            let _ = task.await;
        }
        let summary = Summary {
            bars: self.bars.get(),
            skipped: self.registry.value("skipped_total") as u64,
            dropped_clients: self.dropped.get(),
        };
        tracing::info!(%summary, "dashboard stopped");
        Ok(summary)
    }
}
