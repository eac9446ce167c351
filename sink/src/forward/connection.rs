//! One connection to the endpoint: connecting (TCP, optionally TLS), writing batches of lines
//! with a deadline, and a reader task that reports acknowledgements and the peer closing.
//!
//! A connection is disposable: any error drops it, and the forwarder opens a new one and sends
//! again whatever was not finished. Errors here are expected conditions, never fatal.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, WriteHalf,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Acknowledgements handed to the forwarder in one message at most.
const ACK_BATCH: usize = 1024;
/// Longest acknowledgement line accepted; anything longer is a protocol error.
const MAX_ACK_LINE: usize = 64 * 1024;

/// Why a connection could not be opened or had to be dropped.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connect timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("write timed out after {0:?} (peer not reading)")]
    WriteTimeout(Duration),
    #[error("no acknowledgement within {0:?}")]
    AckTimeout(Duration),
    #[error("peer closed the connection")]
    Closed,
    #[error("acknowledgement line longer than {MAX_ACK_LINE} bytes")]
    AckTooLong,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: String,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
    pub connect_timeout: Duration,
    pub write_timeout: Duration,
    /// Messages of acknowledgements (one or more each) held at most between the reader task
    /// and the forwarder; `None`: the peer is not expected to acknowledge, and anything it
    /// sends is read and dropped. An honest receiver never has more outstanding than lines in
    /// flight, so the forwarder sizes this to its window: it bounds memory without ever
    /// blocking such a receiver.
    pub ack_capacity: Option<usize>,
}

/// What the peer said.
#[derive(Debug)]
pub enum FromPeer {
    /// Acknowledgements: the ids of signals it received, in the order it sent them.
    Acks(Vec<String>),
    /// The read side ended: the connection is gone.
    Closed(LinkError),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An open connection.
pub struct Link {
    writer: WriteHalf<Box<dyn Stream>>,
    write_timeout: Duration,
    /// Acknowledgements and the close, in the order the peer sent them.
    pub from_peer: mpsc::Receiver<FromPeer>,
    reader: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Endpoint {
    /// Opens a connection (TCP connect and TLS handshake within the connect timeout).
    pub async fn connect(&self) -> Result<Link, LinkError> {
        let stream = tokio::time::timeout(self.connect_timeout, self.open())
            .await
            .map_err(|_| LinkError::ConnectTimeout(self.connect_timeout))??;
        let (read, writer) = tokio::io::split(stream);
        let (tx, from_peer) = mpsc::channel(self.ack_capacity.unwrap_or(1).max(1));
        Ok(Link {
            writer,
            write_timeout: self.write_timeout,
            from_peer,
            reader: tokio::spawn(read_acks(read, tx, self.ack_capacity.is_some())),
        })
    }

    async fn open(&self) -> Result<Box<dyn Stream>, LinkError> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        Ok(match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(connector.connect(name.clone(), tcp).await?),
        })
    }
}

impl Link {
    /// Writes `bytes` entirely and flushes, within the write timeout.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let write = async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        };
        tokio::time::timeout(self.write_timeout, write)
            .await
            .map_err(|_| LinkError::WriteTimeout(self.write_timeout))?
            .map_err(LinkError::Io)
    }
}

/// Forwards the lines the peer sends as acknowledgements (when `acks`; otherwise they are
/// dropped), those already buffered together, then how the stream ended.
async fn read_acks<R: AsyncRead + Unpin>(read: R, tx: mpsc::Sender<FromPeer>, acks: bool) {
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut buf = Vec::new();
    let mut ids = Vec::new();
    let end = loop {
        buf.clear();
        let mut limited = AsyncReadExt::take(&mut reader, MAX_ACK_LINE as u64);
        match limited.read_until(b'\n', &mut buf).await {
            Ok(0) => break LinkError::Closed,
            Ok(_) if buf.last() != Some(&b'\n') && buf.len() >= MAX_ACK_LINE => {
                break LinkError::AckTooLong
            }
            Ok(_) => {
                let id = buf.trim_ascii();
                if acks && !id.is_empty() {
                    ids.push(String::from_utf8_lossy(id).into_owned());
                }
            }
            Err(e) => break LinkError::Io(e),
        }
        if ids.len() < ACK_BATCH && reader.buffer().contains(&b'\n') {
            continue;
        }
        if !ids.is_empty()
            && tx
                .send(FromPeer::Acks(std::mem::take(&mut ids)))
                .await
                .is_err()
        {
            return;
        }
    };
    if !ids.is_empty() {
        let _ = tx.send(FromPeer::Acks(ids)).await;
    }
    let _ = tx.send(FromPeer::Closed(end)).await;
}

/// The TLS part of an [`Endpoint`]: a connector trusting `ca_file`, verifying `server_name`,
/// presenting `identity` (certificate file, key file) when given.
pub fn tls(
    ca_file: &std::path::Path,
    server_name: &str,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<(TlsConnector, ServerName<'static>), TlsSetupError> {
    let config = crate::tls::client_config(ca_file, identity)?;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|_| TlsSetupError::ServerName(server_name.to_string()))?;
    Ok((TlsConnector::from(Arc::clone(&config)), name))
}

/// The TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(transparent)]
    Files(#[from] crate::tls::TlsError),
    #[error("`{0}` is not a valid TLS server name")]
    ServerName(String),
}
