//! One forwarder connection: reading lines a batch at a time, de-duplicating, writing the
//! outputs, then remembering and acknowledging. A bad line is counted and skipped; a broken or
//! abusive connection ends only itself. A batch whose append fails ends its connection without
//! an acknowledgement and without being remembered: the forwarder sends it again, and then it
//! is new, not a duplicate.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use contract::Signal;
use service::metrics::Gauge;
use service::shutdown::Shutdown;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;

use super::output::{OutputError, Outputs};
use super::state::Received;
use crate::line::{self, Format, Skipped};

/// Lines handled per batch: one lock, one output flush and one ack write per batch.
const BATCH_LINES: usize = 1024;
/// A batch stops growing past this many bytes.
const BATCH_BYTES: usize = 1 << 20;
/// Longest line accepted (a signal is well under 4 KiB); a client sending more without a
/// newline is cut off. With `BATCH_BYTES`, what bounds a connection's memory.
const MAX_LINE: u64 = 64 << 10;
/// Read buffer of a connection.
const READ_BUFFER: usize = 64 << 10;
/// How long a client gets to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection task shares.
pub(super) struct Shared {
    pub(super) ack: bool,
    pub(super) append: bool,
    pub(super) screen: Option<Format>,
    pub(super) received: Received,
    pub(super) skipped: Skipped,
    pub(super) open: Gauge,
    pub(super) idle_timeout: Option<Duration>,
    pub(super) outputs: Mutex<Outputs>,
}

pub(super) async fn serve_tls(
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
pub(super) enum ConnectionError {
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    #[error("line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("nothing received for {0:?}")]
    Idle(Duration),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Reads lines until the peer closes or shutdown; handles them a batch at a time.
pub(super) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    shared: &Shared,
    mut shutdown: Shutdown,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(READ_BUFFER, rd);
    let mut batch: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut screen = Vec::new();
    let mut ndjson = Vec::new();
    let mut acks = Vec::new();
    loop {
        batch.clear();
        let n = tokio::select! {
            _ = shutdown.recv() => return Ok(()),
            n = idle_limited(shared.idle_timeout, read_line(&mut reader, &mut batch)) => n?,
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
        let signals = parse_batch(shared, &batch, &mut acks, &peer);
        let ids: Vec<&str> = signals.iter().map(|(s, _)| s.id.as_str()).collect();
        {
            // One batch at a time across connections: what is new is decided, written and
            // remembered without another connection's batch in between.
            let mut outputs = shared.outputs.lock().await;
            let new = shared.received.new_among(&ids);
            for ((signal, raw), _) in signals.iter().zip(&new).filter(|(_, new)| **new) {
                if let Some(format) = shared.screen {
                    line::format::write_line(format, signal, raw, &mut screen);
                }
                if shared.append {
                    line::format::write_line(Format::Ndjson, signal, raw, &mut ndjson);
                }
            }
            outputs.write(&screen, &ndjson).await?;
            let fresh = signals
                .iter()
                .zip(&new)
                .filter(|(_, new)| **new)
                .map(|((s, _), _)| (s.id.as_str(), s.symbol.as_str()));
            let duplicates = new.iter().filter(|new| !**new).count() as u64;
            shared.received.record(fresh, duplicates, SystemTime::now());
        }
        if !acks.is_empty() {
            wr.write_all(&acks).await?;
            wr.flush().await?;
            shared.received.counters.acks.add(signals.len() as u64);
        }
    }
}

/// `read` unless nothing arrives for `limit`.
async fn idle_limited(
    limit: Option<Duration>,
    read: impl std::future::Future<Output = Result<usize, ConnectionError>>,
) -> Result<usize, ConnectionError> {
    match limit {
        None => read.await,
        Some(limit) => tokio::time::timeout(limit, read)
            .await
            .map_err(|_| ConnectionError::Idle(limit))?,
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

/// Parses a batch of lines into signals with their raw lines, counting and skipping the lines
/// that are not signals, and fills the acks (duplicates are acknowledged too).
fn parse_batch<'a>(
    shared: &Shared,
    batch: &'a [u8],
    acks: &mut Vec<u8>,
    source: &SocketAddr,
) -> Vec<(Signal, &'a [u8])> {
    let mut signals = Vec::new();
    for raw in batch.split_inclusive(|&b| b == b'\n') {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        shared.received.counters.lines.inc();
        match line::decode(Some(raw)) {
            Ok(signal) => {
                if shared.ack {
                    acks.extend_from_slice(signal.id.as_bytes());
                    acks.push(b'\n');
                }
                signals.push((signal, raw));
            }
            Err(invalid) => invalid.record(&shared.skipped, source),
        }
    }
    signals
}
