//! A FAKE Kraken: a local WebSocket server that speaks Kraken's v2 protocol over a simulated
//! market, for tests, benchmarks and offline demos (`ingest exchange`). Not part of the path
//! from a real exchange to Kafka; nothing in production talks to it.
//!
//! It acknowledges `trade` and `ticker` subscriptions (refusing unknown symbols as Kraken
//! does), sends a snapshot of the last trades and then every new trade of its simulated market
//! (`tape`), heartbeats every second, answers pings, and on command drops every connection,
//! keeps clients out for a while (the market trading on), stalls (goes silent without
//! closing), or sends any raw frame, bad ones included. Beside the WebSocket it serves
//! Kraken's public REST `AssetPairs` and `Trades` (`rest`, from the tape's bounded history),
//! which a client uses to fill the gap a long disconnection leaves; on command REST fails.

mod rest;
mod tape;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use contract::records::Trade;
use futures_util::{SinkExt, StreamExt};
use service::shutdown::{self, Shutdown, ShutdownTrigger};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::source::kraken::protocol::{self, Request};
use crate::source::SimulateSettings;
use tape::{Tape, TapeTrade};

/// Settings of the fake exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeExchangeSettings {
    /// The simulated market it serves: its `symbols` are the only ones it accepts
    /// subscriptions to; `speed` `Max` publishes as fast as the slowest reader takes the
    /// trades; `count` closes the market after that many trades; `start` `None` starts event
    /// time at the first subscription.
    pub market: SimulateSettings,
    /// Trades per symbol in a subscription snapshot (Kraken sends 50).
    pub snapshot_depth: usize,
    /// Trades per symbol kept for the REST `Trades` endpoint (older ones are forgotten).
    pub history_depth: usize,
    /// Most trades per update frame.
    pub max_frame_trades: usize,
    /// Trades the market may run ahead of its slowest reader.
    pub tape_capacity: usize,
    /// Time between heartbeats (Kraken: a second).
    pub heartbeat: Duration,
    /// Play exactly these trades (at the market's `speed`, by their timestamps) instead of
    /// generating a random walk: a designed price path for end-to-end tests. The market's
    /// `symbols` must list theirs.
    pub script: Option<Arc<Vec<Trade>>>,
    /// Generate and render the whole market (`count` trades) before serving, so the exchange
    /// costs little more than its socket writes while it serves (for benchmarks).
    pub prepare: bool,
}

impl Default for FakeExchangeSettings {
    /// [`SimulateSettings::default`] as the market, framed and paced as Kraken does.
    fn default() -> Self {
        Self {
            market: SimulateSettings::default(),
            snapshot_depth: 50,
            history_depth: 10_000,
            max_frame_trades: 100,
            tape_capacity: 100_000,
            heartbeat: Duration::from_secs(1),
            script: None,
            prepare: false,
        }
    }
}

impl FakeExchangeSettings {
    /// Trades per symbol the tape keeps: enough for snapshots and for REST.
    fn kept(&self) -> usize {
        self.snapshot_depth.max(self.history_depth)
    }
}

/// Something a test asks of every open connection.
#[derive(Debug, Clone)]
enum Command {
    /// Close the TCP connection without a WebSocket close frame.
    Drop,
    /// Send nothing (and answer nothing) for this long.
    Stall(Duration),
    /// Send this text frame as is.
    Raw(String),
}

/// A running fake exchange; stops when dropped.
#[derive(Debug)]
pub struct FakeExchange {
    addr: SocketAddr,
    rest_addr: SocketAddr,
    tape: Arc<Tape>,
    commands: broadcast::Sender<Command>,
    stats: Arc<Stats>,
    stop: ShutdownTrigger,
}

#[derive(Debug, Default)]
struct Stats {
    connections: AtomicU64,
    subscriptions: AtomicU64,
    rest_requests: AtomicU64,
    /// New connections are closed at once until then.
    refuse_until: Mutex<Option<Instant>>,
    /// REST answers 503 while set.
    rest_down: AtomicBool,
    /// Answers (HTTP status, body) given instead of the real ones, by the request's number
    /// (the first request is 1).
    rest_script: Mutex<std::collections::HashMap<u64, (u16, String)>>,
}

impl Stats {
    fn refusing(&self) -> bool {
        let until = *self.refuse_until.lock().unwrap_or_else(|p| p.into_inner());
        until.is_some_and(|t| Instant::now() < t)
    }
}

impl FakeExchange {
    /// Binds `listen` (use port 0 for any free port) for the WebSocket, and any free port of
    /// the same address for REST, and starts serving.
    pub async fn start(
        listen: SocketAddr,
        settings: FakeExchangeSettings,
    ) -> std::io::Result<FakeExchange> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let rest_listener = TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await?;
        let rest_addr = rest_listener.local_addr()?;
        let (stop, shutdown) = shutdown::channel();
        let tape = Arc::new(Tape::new());
        let (commands, _) = broadcast::channel(1024);
        let stats = Arc::new(Stats::default());
        // A script, or a prepared market, is rendered for the wire before serving starts.
        let prepared =
            if settings.script.is_some() || (settings.prepare && settings.market.count.is_some()) {
                let c = settings.clone();
                let trades = tokio::task::spawn_blocking(move || tape::prepare(&c))
                    .await
                    .map_err(std::io::Error::other)?;
                Some(trades)
            } else {
                None
            };
        tokio::spawn(
            tape.clone()
                .run_market(settings.clone(), prepared, shutdown.clone()),
        );
        let server = Server {
            settings: Arc::new(settings),
            tape: tape.clone(),
            commands: commands.clone(),
            stats: stats.clone(),
        };
        tokio::spawn(rest::serve(server.clone(), rest_listener, shutdown.clone()));
        tokio::spawn(server.accept_loop(listener, shutdown));
        tracing::info!(%addr, %rest_addr, "fake exchange listening");
        Ok(FakeExchange {
            addr,
            rest_addr,
            tape,
            commands,
            stats,
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The base URL of its REST API (`http://...`, in place of `https://api.kraken.com`).
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    /// Trades the market published so far, per symbol; their ids are `1..=count`.
    pub fn published(&self) -> BTreeMap<String, u64> {
        self.tape.counts()
    }

    /// True once a market with a `count` published its last trade.
    pub fn market_closed(&self) -> bool {
        self.tape.done()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::Relaxed)
    }

    /// Successful `trade` subscriptions so far (one per subscribe request).
    pub fn subscriptions(&self) -> u64 {
        self.stats.subscriptions.load(Ordering::Relaxed)
    }

    /// Drops every open connection abruptly.
    pub fn drop_connections(&self) {
        let _ = self.commands.send(Command::Drop);
    }

    /// Drops every open connection and, for `duration`, closes new ones as soon as they are
    /// accepted, while the market keeps trading: a disconnection as long as a test needs.
    pub fn disconnect_for(&self, duration: Duration) {
        *self
            .stats
            .refuse_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + duration);
        self.drop_connections();
    }

    /// Makes the REST API answer every request with HTTP 503 (`true`) or serve again.
    pub fn set_rest_down(&self, down: bool) {
        self.stats.rest_down.store(down, Ordering::Relaxed);
    }

    /// Makes REST request number `request` (the first one the exchange receives is 1; see
    /// [`FakeExchange::rest_requests`]) get HTTP `status` with `body` instead of its real
    /// answer: a 429, a 500, a malformed page in the middle of a paging client's run.
    pub fn answer_at(&self, request: u64, status: u16, body: impl Into<String>) {
        self.stats
            .rest_script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request, (status, body.into()));
    }

    /// Opens the market without a WebSocket subscription (it opens at the first one
    /// otherwise), for clients of the REST API only.
    pub fn open_market(&self) {
        self.tape.open();
    }

    /// REST requests received so far.
    pub fn rest_requests(&self) -> u64 {
        self.stats.rest_requests.load(Ordering::Relaxed)
    }

    /// Makes every open connection go silent for `duration`.
    pub fn stall(&self, duration: Duration) {
        let _ = self.commands.send(Command::Stall(duration));
    }

    /// Sends `frame` as is to every open connection.
    pub fn send_raw(&self, frame: impl Into<String>) {
        let _ = self.commands.send(Command::Raw(frame.into()));
    }

    /// Stops serving (also done on drop).
    pub fn stop(&self) {
        self.stop.fire();
    }
}

impl Drop for FakeExchange {
    fn drop(&mut self) {
        self.stop.fire();
    }
}

#[derive(Clone)]
struct Server {
    settings: Arc<FakeExchangeSettings>,
    tape: Arc<Tape>,
    commands: broadcast::Sender<Command>,
    stats: Arc<Stats>,
}

impl Server {
    async fn accept_loop(self, listener: TcpListener, mut shutdown: Shutdown) {
        let ids = AtomicU64::new(0);
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.recv() => return,
                r = listener.accept() => match r {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "fake exchange: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            self.stats.connections.fetch_add(1, Ordering::Relaxed);
            if self.stats.refusing() {
                drop(stream);
                continue;
            }
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let server = self.clone();
            let commands = self.commands.subscribe();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                if let Err(e) = server.connection(id, stream, commands, shutdown).await {
                    tracing::debug!(%peer, error = %e, "fake exchange: connection ended");
                }
            });
        }
    }

    async fn connection(
        &self,
        id: u64,
        stream: TcpStream,
        mut commands: broadcast::Receiver<Command>,
        mut shutdown: Shutdown,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let ws = tokio_tungstenite::accept_async(stream).await?;
        let (mut write, mut read) = ws.split();
        let _reader = ReaderGuard {
            tape: &self.tape,
            id,
        };
        write
            .send(WsMessage::text(protocol::status_frame("online")))
            .await?;
        let mut trades: Vec<String> = Vec::new();
        let mut tickers: Vec<String> = Vec::new();
        let mut published = self.tape.watch_published();
        let mut behind = false;
        let mut silent_until: Option<Instant> = None;
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        loop {
            let silent = silent_until.is_some_and(|t| Instant::now() < t);
            tokio::select! {
                biased;
                _ = shutdown.recv() => return Ok(()),
                cmd = commands.recv() => match cmd {
                    Ok(Command::Drop) => return Ok(()),
                    Ok(Command::Stall(d)) => silent_until = Some(Instant::now() + d),
                    Ok(Command::Raw(text)) => write.send(WsMessage::text(text)).await?,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = tokio::time::sleep_until(silent_until.unwrap_or_else(Instant::now)), if silent => {}
                msg = read.next(), if !silent => {
                    let text = match msg {
                        None | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                        Some(Err(e)) => return Err(e),
                        Some(Ok(WsMessage::Text(t))) => t,
                        Some(Ok(_)) => continue,
                    };
                    for frame in self.answer(id, &text, &mut trades, &mut tickers) {
                        write.feed(WsMessage::text(frame)).await?;
                    }
                    write.flush().await?;
                    behind = !trades.is_empty();
                }
                _ = published.changed(), if !silent && !trades.is_empty() && !behind => behind = true,
                _ = std::future::ready(()), if !silent && behind => {
                    let batch = self.tape.read(id, self.settings.max_frame_trades * 8);
                    if batch.is_empty() {
                        behind = false;
                        continue;
                    }
                    for frame in self.update_frames(&batch, &trades) {
                        write.feed(WsMessage::text(frame)).await?;
                    }
                    write.flush().await?;
                }
                _ = heartbeat.tick(), if !silent => {
                    write.feed(WsMessage::text(protocol::heartbeat_frame())).await?;
                    for symbol in &tickers {
                        let last = self.last_price(symbol);
                        write.feed(WsMessage::text(protocol::ticker_frame(false, symbol, last, Utc::now()))).await?;
                    }
                    write.flush().await?;
                }
            }
        }
    }

    /// The frames answering one client request; registers subscriptions.
    fn answer(
        &self,
        id: u64,
        text: &str,
        trades: &mut Vec<String>,
        tickers: &mut Vec<String>,
    ) -> Vec<String> {
        let request = match Request::parse(text) {
            Ok(r) => r,
            Err(bad) => return vec![protocol::error_frame("unknown", &bad.detail, None, None)],
        };
        let mut out = Vec::new();
        match request {
            Request::Ping { req_id } => out.push(protocol::pong_frame(req_id)),
            Request::Subscribe {
                channel,
                symbols,
                snapshot,
                req_id,
            } if channel == "trade" || channel == "ticker" => {
                let mut accepted = Vec::new();
                for symbol in symbols {
                    if self.settings.market.symbols.contains(&symbol) {
                        out.push(protocol::ack_frame("subscribe", &channel, &symbol, req_id));
                        accepted.push(symbol);
                    } else {
                        out.push(protocol::error_frame(
                            "subscribe",
                            "Currency pair not supported",
                            Some(&symbol),
                            req_id,
                        ));
                    }
                }
                if channel == "ticker" {
                    for symbol in accepted {
                        if snapshot {
                            let last = self.last_price(&symbol);
                            out.push(protocol::ticker_frame(true, &symbol, last, Utc::now()));
                        }
                        if !tickers.contains(&symbol) {
                            tickers.push(symbol);
                        }
                    }
                    return out;
                }
                if accepted.is_empty() {
                    return out;
                }
                let recent = self
                    .tape
                    .subscribe(id, &accepted, self.settings.snapshot_depth);
                self.stats.subscriptions.fetch_add(1, Ordering::Relaxed);
                for symbol in accepted {
                    if !trades.contains(&symbol) {
                        trades.push(symbol.clone());
                    }
                    if snapshot {
                        let own = recent
                            .iter()
                            .filter(|t| t.trade.symbol == symbol)
                            .map(|t| &*t.wire);
                        out.push(protocol::trade_frame(true, own));
                    }
                }
            }
            Request::Unsubscribe {
                channel,
                symbols,
                req_id,
            } => {
                for symbol in symbols {
                    trades.retain(|s| !(channel == "trade" && *s == symbol));
                    tickers.retain(|s| !(channel == "ticker" && *s == symbol));
                    out.push(protocol::ack_frame(
                        "unsubscribe",
                        &channel,
                        &symbol,
                        req_id,
                    ));
                }
                if trades.is_empty() {
                    self.tape.unsubscribe(id);
                }
            }
            Request::Subscribe { req_id, .. } => out.push(protocol::error_frame(
                "subscribe",
                "Channel not supported by the fake exchange",
                None,
                req_id,
            )),
            Request::Other { method, req_id } => out.push(protocol::error_frame(
                &method,
                "Method not supported by the fake exchange",
                None,
                req_id,
            )),
        }
        out
    }

    /// Update frames for a batch of the tape: per subscribed symbol, its trades in tape order,
    /// at most `max_frame_trades` per frame.
    fn update_frames(&self, batch: &[Arc<TapeTrade>], subscribed: &[String]) -> Vec<String> {
        let mut frames = Vec::new();
        for symbol in subscribed {
            let own: Vec<&str> = batch
                .iter()
                .filter(|t| t.trade.symbol == *symbol)
                .map(|t| &*t.wire)
                .collect();
            for chunk in own.chunks(self.settings.max_frame_trades.max(1)) {
                frames.push(protocol::trade_frame(false, chunk.iter().copied()));
            }
        }
        frames
    }

    fn last_price(&self, symbol: &str) -> f64 {
        self.tape.last_price(symbol).unwrap_or(100.0)
    }
}

/// Unregisters a connection's cursor however the connection ends.
struct ReaderGuard<'a> {
    tape: &'a Tape,
    id: u64,
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        self.tape.unsubscribe(self.id);
    }
}
