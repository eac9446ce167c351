//! `sink receive`: the receiving end for demos and tests.
//!
//! A TCP (optionally TLS) server taking any number of forwarder connections at once. Each line
//! is parsed as a signal; new ones are printed and appended, duplicates (same id, e.g. re-sent
//! after a reconnect) are counted and dropped, and in acknowledgement mode every signal line is
//! answered with its id once its outputs are written (and synced, with `fsync`). An id counts as
//! seen only once its signal was written. Lines that are not signals are counted
//! and skipped; a misbehaving client never stops the server.
//!
//! Who may connect: with TLS, optionally only clients with a certificate from a given CA
//! (mutual TLS); without TLS, only loopback clients unless told otherwise. At most
//! `max_connections` at once, each closed after `idle_timeout` of silence, each holding a
//! bounded buffer (a read buffer, one batch of at most ~1 MiB plus one line of at most 64 KiB).
//!
//! Library users bind first (to learn the port and get the [`Received`] handle), then run.
//!
//! ## Layout
//! - [`settings`](ReceiveSettings): the settings and their defaults.
//! - `connection`: one forwarder connection, a batch of lines at a time.
//! - `state`: what has been received: de-duplication, counters, arrivals.
//! - `output`: stdout and the append file.

mod connection;
mod output;
mod settings;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use service::exit::InvalidSettings;
use service::metrics::{Counter, MetricsSettings, Registry};
use service::ratelimit::LogLimiter;
use service::shutdown::Shutdown;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::TlsAcceptor;

pub use output::OutputError;
pub use settings::{Output, ReceiveSettings, DEFAULT_LISTEN};
pub use state::{Arrival, Received};

use crate::line;
use connection::Shared;
use output::Outputs;

/// Why the receiver could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Settings(#[from] InvalidSettings),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("append file {0}")]
    Output(#[from] OutputError),
    #[error("metrics server: {0}")]
    Metrics(std::io::Error),
}

/// Counts at exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub connections: u64,
    pub lines: u64,
    pub signals: u64,
    pub duplicates: u64,
    pub skipped: u64,
    pub acks: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connections={} lines={} signals={} duplicates={} skipped={} acks={}",
            self.connections, self.lines, self.signals, self.duplicates, self.skipped, self.acks
        )
    }
}

/// A bound, not yet running receiver.
pub struct Receiver {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    registry: Registry,
    metrics: MetricsSettings,
    admission: Admission,
}

/// Who gets a connection: loopback peers only for plaintext (unless allowed), and no more
/// than the cap at once.
struct Admission {
    loopback_only: bool,
    slots: Arc<Semaphore>,
    not_loopback: Counter,
    over_limit: Counter,
    log: LogLimiter,
}

impl Admission {
    /// A slot for `peer` (held while its connection lives), or `None`: refused, counted and
    /// logged (rate-limited).
    fn admit(&self, peer: SocketAddr) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let refused = if self.loopback_only && !peer.ip().to_canonical().is_loopback() {
            self.not_loopback.inc();
            "plaintext receiver: only loopback clients (use TLS, or --allow-remote-plaintext)"
        } else {
            match self.slots.clone().try_acquire_owned() {
                Ok(permit) => return Some(permit),
                Err(_) => {
                    self.over_limit.inc();
                    "at --max-connections"
                }
            }
        };
        if let Some(suppressed) = self.log.allow() {
            tracing::warn!(%peer, suppressed, "connection refused: {refused}");
        }
        None
    }
}

/// Binds and runs until `shutdown`; what `sink receive` does.
pub async fn run(settings: ReceiveSettings, shutdown: Shutdown) -> Result<Summary, ReceiveError> {
    Receiver::bind(settings).await?.run(shutdown).await
}

impl Receiver {
    /// Validates the settings, binds the listener, loads TLS files and the append file; no
    /// connection is served yet.
    pub async fn bind(settings: ReceiveSettings) -> Result<Self, ReceiveError> {
        settings.validate()?;
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(TlsAcceptor::from(crate::tls::server_config(
                cert,
                key,
                settings.tls_client_ca.as_deref(),
            )?)),
            _ => None,
        };
        let registry = Registry::new("sink");
        let received = Received::new(&registry, settings.dedup_capacity, settings.keep_arrivals);
        let outputs = Outputs::open(
            settings.output != Output::None,
            settings.append_file.as_deref(),
            settings.fsync,
            |id| received.remember(id),
        )
        .await?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ReceiveError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let shared = Arc::new(Shared {
            ack: settings.ack,
            append: outputs.has_file(),
            screen: settings.output.format(),
            skipped: line::skipped(&registry, "Received lines that are not signals, by kind."),
            open: registry.gauge("connections_open", "Connections open now."),
            idle_timeout: settings.idle_timeout,
            received,
            outputs: Mutex::new(outputs),
        });
        let refused = |reason| {
            registry.counter_with(
                "connections_refused_total",
                &[("reason", reason)],
                "Connections closed at once, by reason.",
            )
        };
        let admission = Admission {
            loopback_only: tls.is_none() && !settings.allow_remote_plaintext,
            slots: Arc::new(Semaphore::new(settings.max_connections)),
            not_loopback: refused("not_loopback"),
            over_limit: refused("max_connections"),
            log: LogLimiter::new(Duration::from_secs(10)),
        };
        Ok(Self {
            listener,
            tls,
            shared,
            registry,
            metrics: settings.metrics,
            admission,
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// What has been received, readable while running and after.
    pub fn received(&self) -> Received {
        self.shared.received.clone()
    }

    /// The receiver's metrics (`sink_received_*`, `sink_skipped_total`, ...).
    pub fn metrics(&self) -> Registry {
        self.registry.clone()
    }

    /// Serves connections until `shutdown`, then closes them and reports the counts.
    pub async fn run(self, mut shutdown: Shutdown) -> Result<Summary, ReceiveError> {
        let metric_tasks = self
            .metrics
            .start(&self.registry, &shutdown)
            .await
            .map_err(ReceiveError::Metrics)?;
        tracing::info!(
            addr = %self.local_addr(),
            ack = self.shared.ack,
            tls = self.tls.is_some(),
            loopback_only = self.admission.loopback_only,
            append = self.shared.append,
            "receiving signals"
        );
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (socket, peer) = tokio::select! {
                _ = shutdown.recv() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                // Reap finished connection tasks so the set does not grow without bound.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let Some(slot) = self.admission.admit(peer) else {
                continue;
            };
            let _ = socket.set_nodelay(true);
            let shared = self.shared.clone();
            let tls = self.tls.clone();
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                let _slot = slot;
                shared.received.counters.connections.inc();
                shared.open.set(shared.open.get() + 1);
                tracing::info!(%peer, "connection opened");
                let result = match tls {
                    None => connection::serve(socket, peer, &shared, shutdown).await,
                    Some(acceptor) => {
                        connection::serve_tls(acceptor, socket, peer, &shared, shutdown).await
                    }
                };
                shared.open.set(shared.open.get() - 1);
                match result {
                    Ok(()) => tracing::info!(%peer, "connection closed"),
                    Err(e) => tracing::warn!(%peer, error = %e, "connection ended"),
                }
            });
        }
        while connections.join_next().await.is_some() {}
        for task in metric_tasks {
            let _ = task.await;
        }
        let summary = self.summary();
        tracing::info!(%summary, "receiver stopped");
        Ok(summary)
    }

    fn summary(&self) -> Summary {
        let c = &self.shared.received.counters;
        Summary {
            connections: c.connections.get(),
            lines: c.lines.get(),
            signals: c.signals.get(),
            duplicates: c.duplicates.get(),
            skipped: self.registry.value("skipped_total") as u64,
            acks: c.acks.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plaintext_receiver_admits_loopback_clients_only_unless_told() {
        let registry = Registry::new("t");
        let admission = |loopback_only| Admission {
            loopback_only,
            slots: Arc::new(Semaphore::new(8)),
            not_loopback: registry.counter("refused_not_loopback", "x"),
            over_limit: registry.counter("refused_over_limit", "x"),
            log: LogLimiter::new(Duration::from_secs(10)),
        };
        let strict = admission(true);
        for local in ["127.0.0.1:5", "[::1]:5", "[::ffff:127.0.0.1]:5"] {
            assert!(strict.admit(local.parse().unwrap()).is_some(), "{local}");
        }
        for remote in ["10.0.0.7:5", "[2001:db8::1]:5", "[::ffff:10.0.0.7]:5"] {
            assert!(strict.admit(remote.parse().unwrap()).is_none(), "{remote}");
        }
        assert_eq!(registry.value("refused_not_loopback"), 3.0);
        assert!(admission(false)
            .admit("10.0.0.7:5".parse().unwrap())
            .is_some());
    }
}
