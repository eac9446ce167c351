//! `sink receive`: the receiving end for demos and tests.
//!
//! A TCP (optionally TLS) server taking any number of forwarder connections at once. Each line
//! is parsed as a signal; new ones are printed and appended, duplicates (same id, e.g. re-sent
//! after a reconnect) are counted and dropped, and in acknowledgement mode every signal line is
//! answered with its id once its outputs are flushed. Lines that are not signals are counted
//! and skipped; a misbehaving client never stops the server.
//!
//! Library users bind first (to learn the port and get the [`Received`] handle), then run.

mod config;
mod output;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::metrics::{Gauge, Registry};
use common::shutdown::Shutdown;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;

pub use config::{Output, ReceiveConfig};
pub use output::OutputError;
pub use state::{Arrival, Received};

use crate::line::{self, Format, Skipped};
use output::Outputs;

/// Lines handled per batch: one lock, one output flush and one ack write per batch.
const BATCH_LINES: usize = 1024;
/// A batch stops growing past this many bytes.
const BATCH_BYTES: usize = 1 << 20;
/// Longest line accepted; a client sending more without a newline is cut off.
const MAX_LINE: u64 = 1 << 20;
/// How long a client gets to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the receiver could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
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

/// What every connection task shares.
struct Shared {
    ack: bool,
    append: bool,
    screen: Option<Format>,
    received: Received,
    skipped: Skipped,
    open: Gauge,
    outputs: Mutex<Outputs>,
}

/// A bound, not yet running receiver.
pub struct Receiver {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    registry: Registry,
    metrics: crate::metrics::MetricsArgs,
}

/// Binds and runs until `shutdown`; what `sink receive` does.
pub async fn run(config: ReceiveConfig, shutdown: Shutdown) -> Result<Summary, ReceiveError> {
    Receiver::bind(config).await?.run(shutdown).await
}

impl Receiver {
    /// Binds the listener, loads TLS files and the append file; no connection is served yet.
    pub async fn bind(config: ReceiveConfig) -> Result<Self, ReceiveError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                Some(TlsAcceptor::from(crate::tls::server_config(cert, key)?))
            }
            _ => None,
        };
        let registry = Registry::new("sink");
        let received = Received::new(&registry, config.dedup_capacity, config.keep_arrivals);
        let outputs = Outputs::open(
            config.output != Output::None,
            config.append_file.as_deref(),
            |id| received.remember(id),
        )
        .await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ReceiveError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let shared = Arc::new(Shared {
            ack: config.ack,
            append: outputs.has_file(),
            screen: config.output.format(),
            skipped: Skipped::new(&registry, "Received lines that are not signals, by kind."),
            open: registry.gauge("connections_open", "Connections open now."),
            received,
            outputs: Mutex::new(outputs),
        });
        Ok(Self {
            listener,
            tls,
            shared,
            registry,
            metrics: config.metrics,
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
            let _ = socket.set_nodelay(true);
            let shared = self.shared.clone();
            let tls = self.tls.clone();
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                shared.received.counters.connections.inc();
                shared.open.set(shared.open.get() + 1);
                tracing::info!(%peer, "connection opened");
                let result = match tls {
                    None => serve(socket, peer, &shared, shutdown).await,
                    Some(acceptor) => serve_tls(acceptor, socket, peer, &shared, shutdown).await,
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

async fn serve_tls(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    shutdown: Shutdown,
) -> Result<(), ConnectionError> {
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket))
        .await
        .map_err(|_| ConnectionError::HandshakeTimeout)?
        .map_err(ConnectionError::Io)?;
    serve(stream, peer, shared, shutdown).await
}

/// Why one connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    #[error("line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Reads lines until the peer closes or shutdown; handles them a batch at a time.
async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    shared: &Shared,
    mut shutdown: Shutdown,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(256 * 1024, rd);
    let mut batch: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut screen = Vec::new();
    let mut ndjson = Vec::new();
    let mut acks = Vec::new();
    loop {
        batch.clear();
        let n = tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            n = read_line(&mut reader, &mut batch) => n?,
        };
        if n == 0 {
            return Ok(());
        }
        // Take the lines that are already buffered too, without waiting for more.
        let mut lines = 1;
        while lines < BATCH_LINES && batch.len() < BATCH_BYTES && reader.buffer().contains(&b'\n') {
            read_line(&mut reader, &mut batch).await?;
            lines += 1;
        }
        screen.clear();
        ndjson.clear();
        acks.clear();
        let acked = handle_batch(shared, &batch, &mut screen, &mut ndjson, &mut acks, &peer);
        shared.outputs.lock().await.write(&screen, &ndjson).await?;
        if !acks.is_empty() {
            wr.write_all(&acks).await?;
            wr.flush().await?;
            shared.received.counters.acks.add(acked);
        }
    }
}

/// Appends one line (newline included, unless the stream ended) to `buf`; bytes read.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> Result<usize, ConnectionError> {
    let n = AsyncReadExt::take(&mut *reader, MAX_LINE)
        .read_until(b'\n', buf)
        .await?;
    if n as u64 == MAX_LINE && buf.last() != Some(&b'\n') {
        return Err(ConnectionError::LineTooLong);
    }
    Ok(n)
}

/// Parses, de-duplicates and formats a batch of lines; fills the outputs and the acks.
fn handle_batch(
    shared: &Shared,
    batch: &[u8],
    screen: &mut Vec<u8>,
    ndjson: &mut Vec<u8>,
    acks: &mut Vec<u8>,
    source: &SocketAddr,
) -> u64 {
    let mut acked = 0;
    let now = SystemTime::now();
    for raw in batch.split_inclusive(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        shared.received.counters.lines.inc();
        let signal = match line::decode(Some(raw)) {
            Ok(s) => s,
            Err(invalid) => {
                shared.skipped.record(&invalid, source);
                continue;
            }
        };
        if shared.ack {
            acks.extend_from_slice(signal.id.as_bytes());
            acks.push(b'\n');
            acked += 1;
        }
        if shared.received.record(&signal.id, &signal.symbol, now) {
            if let Some(format) = shared.screen {
                line::format::write_line(format, &signal, raw, screen);
            }
            if shared.append {
                line::format::write_line(Format::Ndjson, &signal, raw, ndjson);
            }
        }
    }
    acked
}
