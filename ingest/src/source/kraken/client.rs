//! The `kraken` source: a WebSocket v2 client that stays connected for days.
//!
//! Each connection subscribes to `trade` (and `ticker` when a ticker topic is set) for every
//! symbol, always asking for the snapshot, so trades that happened while we were away are
//! recovered; the [`Emitter`]'s de-duplication drops the part of the snapshot already sent.
//! When more trades were missed than the snapshot holds, `backfill` fetches the rest from the
//! REST API before the live trades go on.
//! A connection that errors, closes, or says nothing for `idle_timeout` (Kraken sends a
//! heartbeat every second) is dropped and replaced after an exponential backoff with jitter,
//! which starts over only after a connection stayed subscribed for `healthy_after` (a server
//! that accepts and drops at once must not get a tight loop).
//! Optionally every received frame is appended to a file that `ingest replay` can play back.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use service::backoff::Backoff;
use service::shutdown::Shutdown;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::pipeline::emit::Emitter;
use crate::pipeline::Closed;
use crate::source::kraken::backfill::Backfill;
use crate::source::kraken::protocol::{self, Bad, BadKind, Message, Request};
use crate::source::kraken::rest::RestClient;

/// Settings of the `kraken` source.
#[derive(Debug, Clone, PartialEq)]
pub struct KrakenSettings {
    /// WebSocket v2 endpoint, `ws://` or `wss://`.
    pub url: String,
    /// Pairs to subscribe to, in v2 notation (`BTC/USD`).
    pub symbols: Vec<String>,
    /// A connection silent for this long (not even a heartbeat) is taken as dead and replaced.
    pub idle_timeout: Duration,
    /// How often to send an application-level `ping`.
    pub ping_interval: Duration,
    /// How long a connection attempt may take before it counts as failed.
    pub connect_timeout: Duration,
    /// First reconnect delay; doubles per failure, with jitter.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long a connection must stay subscribed before its loss starts the backoff over; a
    /// server that accepts and drops sooner keeps the delays growing.
    pub healthy_after: Duration,
    /// Base URL of Kraken's public REST API, which fills gaps a long disconnection leaves.
    pub rest_url: String,
    /// Least time between two REST requests (Kraken allows a public caller about one a second).
    pub rest_interval: Duration,
    /// How long one REST request may take.
    pub rest_timeout: Duration,
    /// Append every received text frame to this JSON-lines file (`None`: no recording).
    pub record: Option<PathBuf>,
    /// At startup the trades topic is read back, from its end, until every subscribed
    /// symbol's last trades are known (so that the first snapshot does not send again what an
    /// earlier run sent), but at most this many records per partition (0: no read-back).
    pub resume_lookback: i64,
    /// A trade stamped more than this after we received it is kept out (dead-lettered as
    /// `ahead_of_receive_time`): one trade from the future would move the Spark query's
    /// watermark, shared by every symbol, past every real trade. Older trades (a snapshot, a
    /// backfill) always pass. `None`: no check.
    pub max_clock_skew: Option<Duration>,
}

impl Default for KrakenSettings {
    /// Kraken's public endpoint, the default pairs, and timings fit for a connection that
    /// stays up for days.
    fn default() -> Self {
        Self {
            url: "wss://ws.kraken.com/v2".to_string(),
            symbols: crate::source::default_symbols(),
            idle_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(30),
            rest_url: "https://api.kraken.com".to_string(),
            rest_interval: Duration::from_secs(1),
            rest_timeout: Duration::from_secs(10),
            record: None,
            resume_lookback: 1_000_000,
            max_clock_skew: Some(Duration::from_secs(300)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KrakenError {
    #[error("cannot open the recording file {file}: {error}")]
    Record {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Closed(#[from] Closed),
}

const SOURCE: &str = "kraken";

/// Why a connection ended.
enum End {
    Shutdown,
    Lost(String),
}

/// Connects, subscribes and emits until shutdown, reconnecting whenever the connection is lost.
pub(crate) async fn run(
    settings: &KrakenSettings,
    emitter: &mut Emitter,
    mut shutdown: Shutdown,
) -> Result<(), KrakenError> {
    use_ring_for_tls();
    let mut recorder = match &settings.record {
        Some(file) => Some(
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .await
                .map(tokio::io::BufWriter::new)
                .map_err(|error| KrakenError::Record {
                    file: file.clone(),
                    error,
                })?,
        ),
        None => None,
    };
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max)
        .with_healthy_after(settings.healthy_after);
    let mut session = Session {
        settings,
        req_id: 0,
        recorder: recorder.as_mut(),
        backfill: Backfill::new(RestClient::new(
            &settings.rest_url,
            settings.rest_interval,
            settings.rest_timeout,
        )),
    };
    loop {
        let end = session
            .connection(emitter, &mut shutdown, &mut backoff)
            .await;
        emitter.metrics().connected.set(0);
        match end? {
            End::Shutdown => break,
            End::Lost(reason) => {
                emitter.metrics().reconnects.inc();
                let delay = backoff.next_delay();
                tracing::warn!(
                    reason,
                    retry_in_ms = delay.as_millis() as u64,
                    attempt = backoff.attempts(),
                    "connection lost, reconnecting"
                );
                tokio::select! {
                    _ = shutdown.recv() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    if let Some(r) = recorder.as_mut() {
        let _ = r.flush().await;
    }
    Ok(())
}

/// TLS for `wss://` is rustls with the ring provider, installed for the whole process. Chosen
/// explicitly because rustls cannot pick one by itself when a build enables none or several.
fn use_ring_for_tls() {
    // Err means a provider is already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `--check`: opens one connection to `url` and closes it again.
pub(crate) async fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    use_ring_for_tls();
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url)).await {
        Err(_) => Err(format!("no connection to {url} after {timeout:?}")),
        Ok(Err(e)) => Err(format!("cannot connect to {url}: {e}")),
        Ok(Ok((mut ws, _))) => {
            let _ = ws.close(None).await;
            Ok(())
        }
    }
}

struct Session<'a> {
    settings: &'a KrakenSettings,
    req_id: u64,
    recorder: Option<&'a mut tokio::io::BufWriter<tokio::fs::File>>,
    /// Trade ids seen per symbol, across connections, and the filling of their gaps.
    backfill: Backfill,
}

impl Session<'_> {
    fn next_req_id(&mut self) -> Option<u64> {
        self.req_id += 1;
        Some(self.req_id)
    }

    /// One connection, from connect to loss or shutdown.
    async fn connection(
        &mut self,
        emitter: &mut Emitter,
        shutdown: &mut Shutdown,
        backoff: &mut Backoff,
    ) -> Result<End, Closed> {
        let settings = self.settings;
        let connect = tokio_tungstenite::connect_async(settings.url.as_str());
        let ws = tokio::select! {
            _ = shutdown.recv() => return Ok(End::Shutdown),
            r = tokio::time::timeout(settings.connect_timeout, connect) => match r {
                Err(_) => return Ok(End::Lost(format!("connect timed out after {:?}", settings.connect_timeout))),
                Ok(Err(e)) => return Ok(End::Lost(format!("connect failed: {e}"))),
                Ok(Ok((ws, _))) => ws,
            },
        };
        tracing::info!(url = %settings.url, "connected");
        self.backfill.connected();
        let (mut write, mut read) = ws.split();
        let mut requests = vec![Request::Subscribe {
            channel: "trade".into(),
            symbols: settings.symbols.clone(),
            snapshot: true,
            req_id: self.next_req_id(),
        }];
        if emitter.wants_tickers() {
            requests.push(Request::Subscribe {
                channel: "ticker".into(),
                symbols: settings.symbols.clone(),
                snapshot: true,
                req_id: self.next_req_id(),
            });
        }
        for r in requests {
            if let Err(e) = write.send(WsMessage::text(r.to_json())).await {
                return Ok(End::Lost(format!("subscribe failed: {e}")));
            }
        }
        let mut unacked: Vec<&str> = settings.symbols.iter().map(String::as_str).collect();
        let (mut acked, mut subscribed) = (0usize, false);
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval_at(
            Instant::now() + settings.ping_interval,
            settings.ping_interval,
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let frame = tokio::select! {
                biased;
                _ = shutdown.recv() => {
                    let _ = write.send(WsMessage::Close(None)).await;
                    return Ok(End::Shutdown);
                }
                _ = ping.tick() => {
                    let req = Request::Ping { req_id: self.next_req_id() };
                    if let Err(e) = write.send(WsMessage::text(req.to_json())).await {
                        return Ok(End::Lost(format!("ping failed: {e}")));
                    }
                    continue;
                }
                frame = read.next() => frame,
                _ = tokio::time::sleep_until(last_heard + settings.idle_timeout) => {
                    return Ok(End::Lost(format!("no message for {:?}", settings.idle_timeout)));
                }
            };
            last_heard = Instant::now();
            let text = match frame {
                None => return Ok(End::Lost("closed by the server".into())),
                Some(Err(e)) => return Ok(End::Lost(e.to_string())),
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(WsMessage::Close(frame))) => {
                    return Ok(End::Lost(format!("closed by the server: {frame:?}")))
                }
                Some(Ok(WsMessage::Binary(bytes))) => {
                    emitter.metrics().frames.inc();
                    let bad = Bad::new(BadKind::NotJson, "binary frame");
                    emitter
                        .bad(SOURCE, &bad, &String::from_utf8_lossy(&bytes))
                        .await?;
                    continue;
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
            };
            emitter.metrics().frames.inc();
            self.record(&text).await;
            match protocol::parse(&text, Utc::now()) {
                Ok(Message::Ack {
                    method,
                    channel,
                    symbol,
                }) => {
                    tracing::info!(method, channel, symbol, "acknowledged");
                    if method == "subscribe" && channel.as_deref() == Some("trade") {
                        unacked.retain(|s| Some(*s) != symbol.as_deref());
                        acked += 1;
                    }
                }
                Ok(Message::RequestError {
                    method,
                    error,
                    symbol,
                }) => {
                    if method == "subscribe" {
                        emitter.metrics().subscribe_errors.inc();
                        // A refused symbol will not be acknowledged: do not wait for it.
                        unacked.retain(|s| Some(*s) != symbol.as_deref());
                    }
                    tracing::error!(method, error, symbol, "request refused by the exchange");
                }
                Ok(Message::Status { system }) => tracing::info!(system, "exchange status"),
                Ok(Message::Heartbeat | Message::Pong { .. }) => {}
                Ok(data) => {
                    if let Message::Trades { trades, .. } = &data {
                        self.backfill.before_emit(trades, emitter).await?;
                    }
                    emitter.data(SOURCE, data).await?
                }
                Err(bad) => emitter.bad(SOURCE, &bad, &text).await?,
            }
            if !subscribed && acked > 0 && unacked.is_empty() {
                // Every symbol answered and some were accepted: this connection works. The
                // backoff starts over only if it keeps working for the healthy period.
                subscribed = true;
                emitter.metrics().connected.set(1);
                backoff.up();
            }
            emitter.flush().await?;
            // Time spent waiting for room in the queue (Kafka slow or away) is not silence.
            last_heard = Instant::now();
        }
    }

    /// Appends a frame to the recording, one line per frame (failures are logged, not fatal).
    async fn record(&mut self, text: &str) {
        let Some(out) = self.recorder.as_mut() else {
            return;
        };
        // JSON allows a raw newline only as whitespace, so replacing it keeps the frame intact.
        let line = text.replace(['\n', '\r'], " ");
        let written = async {
            out.write_all(line.as_bytes()).await?;
            out.write_all(b"\n").await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, "cannot write the recording");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `wss://` URL goes through a TLS handshake: against a server that does not speak TLS
    /// it must fail with an error, not panic (as rustls does when no provider is chosen).
    #[tokio::test]
    async fn tls_handshake_failures_are_errors() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(b"HTTP/1.1 400 not TLS\r\n\r\n").await;
            }
        });
        let err = probe(&format!("wss://{addr}"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
    }
}
