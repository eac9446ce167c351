//! One forwarder connection: reading lines a batch at a time, de-duplicating, writing the
//! outputs, then acknowledging. A bad line is counted and skipped; a broken or abusive
//! connection ends only itself.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

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
/// Longest line accepted; a client sending more without a newline is cut off.
const MAX_LINE: u64 = 1 << 20;
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
                invalid.record(&shared.skipped, source);
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
