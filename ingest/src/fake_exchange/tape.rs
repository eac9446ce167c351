//! The fake exchange's market: one tape of trades that every connection reads from.
//!
//! A market task appends generated trades to the tape at the configured pace, starting when
//! the first client subscribes and going on whether or not anyone is connected (so a client
//! that reconnects has missed trades, as on a real exchange, and must recover them from the
//! snapshot). Each subscribed connection reads the tape from its own cursor. Unlike a real
//! exchange the market waits for the slowest connected reader instead of cutting it off, so
//! benchmarks measure the client, not the exchange's patience. Each trade is rendered to its
//! wire JSON once, when it enters the tape; with `prepare`, the whole market is generated and
//! rendered before the first subscription, so that serving costs only the socket writes. The
//! last `history_depth` trades of each symbol stay for the REST `Trades` endpoint (the last
//! `snapshot_depth` of them make a subscription's snapshot).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use contract::records::Trade;
use service::shutdown::Shutdown;
use tokio::sync::{watch, Notify};

use super::FakeExchangeSettings;
use crate::source::kraken::protocol;
use crate::source::Pacer;

/// A trade on the tape, rendered for the wire.
#[derive(Debug)]
pub struct TapeTrade {
    pub trade: Trade,
    /// The trade as an element of a `trade` frame.
    pub wire: Box<str>,
}

impl TapeTrade {
    pub fn new(trade: Trade) -> Self {
        Self {
            wire: protocol::wire_trade(&trade).into_boxed_str(),
            trade,
        }
    }
}

/// The script's trades, or else a whole generated market of `count` trades, rendered.
pub fn prepare(settings: &FakeExchangeSettings) -> Vec<TapeTrade> {
    if let Some(script) = &settings.script {
        return script.iter().cloned().map(TapeTrade::new).collect();
    }
    let mut generator = settings.market.generator();
    (0..settings.market.count.unwrap_or(0))
        .map(|_| TapeTrade::new(generator.next_trade()))
        .collect()
}

/// The shared tape and its readers.
#[derive(Debug)]
pub struct Tape {
    state: Mutex<State>,
    /// Number of trades published so far; readers wait on it.
    published: watch::Sender<u64>,
    /// Wakes the market when a reader advanced (room on the tape).
    room: Notify,
    /// Fires once, at the first subscription.
    started: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    /// Trades `base .. base + entries.len()` of the whole run.
    entries: VecDeque<Arc<TapeTrade>>,
    base: u64,
    /// The last trades of each symbol (as many as the larger of the snapshot and history
    /// depths), for snapshots and the REST `Trades` endpoint.
    recent: HashMap<String, VecDeque<Arc<TapeTrade>>>,
    /// Trades published per symbol.
    counts: BTreeMap<String, u64>,
    /// Next position each subscribed connection will read.
    cursors: HashMap<u64, u64>,
    done: bool,
}

impl Tape {
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            published: watch::Sender::new(0),
            room: Notify::new(),
            started: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn watch_published(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// Trades published per symbol so far (their ids are `1..=count`).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.lock().counts.clone()
    }

    /// The last traded price of `symbol`.
    pub fn last_price(&self, symbol: &str) -> Option<f64> {
        self.lock()
            .recent
            .get(symbol)?
            .back()
            .map(|t| t.trade.price)
    }

    /// True once a finite market published its last trade.
    pub fn done(&self) -> bool {
        self.lock().done
    }

    /// Registers a reader at the live end of the tape and returns the snapshot of `symbols`
    /// (their last `depth` trades, oldest first), atomically, so nothing falls in between.
    pub fn subscribe(&self, conn: u64, symbols: &[String], depth: usize) -> Vec<Arc<TapeTrade>> {
        let mut s = self.lock();
        let end = s.base + s.entries.len() as u64;
        s.cursors.entry(conn).or_insert(end);
        let mut snapshot = Vec::new();
        for sym in symbols {
            if let Some(recent) = s.recent.get(sym) {
                let skip = recent.len().saturating_sub(depth);
                snapshot.extend(recent.iter().skip(skip).cloned());
            }
        }
        drop(s);
        self.started.send_replace(true);
        snapshot
    }

    /// Up to `count` trades of `symbol` still in its history, oldest first: those after
    /// `since` (and past the page's end those that share its last trade's time, so that a
    /// time cursor skips none), or without `since` the last `count`.
    pub fn history(
        &self,
        symbol: &str,
        since: Option<DateTime<Utc>>,
        count: usize,
    ) -> Vec<Arc<TapeTrade>> {
        let s = self.lock();
        let Some(recent) = s.recent.get(symbol) else {
            return Vec::new();
        };
        let Some(since) = since else {
            let skip = recent.len().saturating_sub(count);
            return recent.iter().skip(skip).cloned().collect();
        };
        let from = recent.partition_point(|t| t.trade.ts <= since);
        let mut page: Vec<Arc<TapeTrade>> = recent.iter().skip(from).take(count).cloned().collect();
        if let Some(end) = page.last().map(|t| t.trade.ts) {
            let more = recent
                .iter()
                .skip(from + page.len())
                .take_while(|t| t.trade.ts == end);
            page.extend(more.cloned());
        }
        page
    }

    /// Starts the market as a first subscription would.
    pub fn open(&self) {
        self.started.send_replace(true);
    }

    pub fn unsubscribe(&self, conn: u64) {
        self.lock().cursors.remove(&conn);
        self.room.notify_one();
    }

    /// Up to `max` trades after the reader's cursor, advancing it.
    pub fn read(&self, conn: u64, max: usize) -> Vec<Arc<TapeTrade>> {
        let mut s = self.lock();
        let Some(&cursor) = s.cursors.get(&conn) else {
            return Vec::new();
        };
        let from = cursor.saturating_sub(s.base) as usize;
        let out: Vec<Arc<TapeTrade>> = s.entries.iter().skip(from).take(max).cloned().collect();
        let next = cursor.max(s.base) + out.len() as u64;
        s.cursors.insert(conn, next);
        drop(s);
        if !out.is_empty() {
            self.room.notify_one();
        }
        out
    }

    /// Appends trades, first waiting until the slowest reader left room for them; keeps the
    /// last `depth` of each symbol.
    async fn publish(&self, trades: Vec<TapeTrade>, capacity: usize, depth: usize) {
        loop {
            {
                let mut s = self.lock();
                let oldest_needed = s.cursors.values().copied().min();
                let end = s.base + s.entries.len() as u64;
                // Forget what every reader has read (everything, if nobody reads).
                let keep_from = oldest_needed
                    .unwrap_or(end)
                    .max(end.saturating_sub(capacity as u64));
                while s.base < keep_from && !s.entries.is_empty() {
                    s.entries.pop_front();
                    s.base += 1;
                }
                if s.entries.len() + trades.len() <= capacity.max(trades.len()) {
                    for t in trades {
                        let t = Arc::new(t);
                        *s.counts.entry(t.trade.symbol.clone()).or_default() += 1;
                        let recent = s.recent.entry(t.trade.symbol.clone()).or_default();
                        recent.push_back(t.clone());
                        if recent.len() > depth {
                            recent.pop_front();
                        }
                        s.entries.push_back(t);
                    }
                    let end = s.base + s.entries.len() as u64;
                    drop(s);
                    self.published.send_replace(end);
                    return;
                }
            }
            // A reader may advance between the check and this wait: a short timeout covers it.
            let _ = tokio::time::timeout(Duration::from_millis(5), self.room.notified()).await;
        }
    }

    /// Publishes the market's trades (generated as it goes, or `prepared`: a script or a
    /// prepared market): starts at the first subscription, stops after `count` trades (if
    /// set), at the end of what was prepared, or at shutdown.
    pub async fn run_market(
        self: Arc<Self>,
        settings: FakeExchangeSettings,
        prepared: Option<Vec<TapeTrade>>,
        mut shutdown: Shutdown,
    ) {
        let mut started = self.started.subscribe();
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = started.wait_for(|s| *s) => {}
        }
        let market = &settings.market;
        let mut generator = market.generator();
        let mut prepared = prepared.map(Vec::into_iter);
        let mut next = move || match prepared.as_mut() {
            Some(trades) => trades.next(),
            None => Some(TapeTrade::new(generator.next_trade())),
        };
        let mut pacer = Pacer::new(market.speed);
        let mut made = 0u64;
        let mut pending: Vec<TapeTrade> = Vec::new();
        const CHUNK: usize = 256;
        while market.count.is_none_or(|n| made < n) && !shutdown.is_stopped() {
            let Some(trade) = next() else {
                break;
            };
            if let Some(at) = pacer.due(trade.trade.ts) {
                if at > tokio::time::Instant::now() {
                    if !pending.is_empty() {
                        let batch = std::mem::take(&mut pending);
                        self.publish(batch, settings.tape_capacity, settings.kept())
                            .await;
                    }
                    tokio::select! {
                        _ = shutdown.recv() => break,
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
            }
            pending.push(trade);
            made += 1;
            if pending.len() >= CHUNK {
                let batch = std::mem::take(&mut pending);
                self.publish(batch, settings.tape_capacity, settings.kept())
                    .await;
            }
        }
        if !pending.is_empty() {
            self.publish(pending, settings.tape_capacity, settings.kept())
                .await;
        }
        self.lock().done = true;
        tracing::info!(trades = made, "fake exchange: market closed");
    }
}

impl Default for Tape {
    fn default() -> Self {
        Self::new()
    }
}
