//! What every source feeds: turns parsed input into Kafka records.
//!
//! One place decides, for all sources alike, that a trade is sent once (de-duplication by
//! symbol and trade id), how it is keyed and stamped, and what happens to bad input (counted by
//! kind, logged at a limited rate, and written raw with its reason to the dead-letter topic when
//! one is configured). For a live source it also keeps out a trade stamped too far ahead of its
//! receipt (bad input of its own kind): one trade from the future would move the Spark query's
//! watermark past every real trade. Recordings and the simulator play any time, so they are
//! not checked. Records are handed to the queue a frame at a time ([`Emitter::flush`], which
//! sources call after each frame and before they sleep); handing over waits while the queue to
//! Kafka is full: that is the backpressure.

use chrono::Utc;
use contract::records::Trade;
use service::bad_input::InputKind;

use super::dedup::Dedup;
use super::output::{Closed, Queue, Record, RecordKind};
use crate::metrics::Metrics;
use crate::source::kraken::protocol::{Bad, BadItem, BadKind, Message, TickerItem};

/// Feeds records to the Kafka output.
pub struct Emitter {
    queue: Queue,
    /// Records not yet handed to the queue.
    pending: Vec<Record>,
    dedup: Dedup,
    metrics: Metrics,
    dead_letters: bool,
    tickers: bool,
    /// Largest lead of a trade's time over its receipt (`None`: not checked).
    max_ahead: Option<chrono::Duration>,
}

/// Trade ids remembered exactly per symbol (see [`Dedup`]). A reconnect snapshot holds 50.
pub const DEDUP_WINDOW: usize = 100_000;

/// Pending records that make [`Emitter`] hand over without waiting for the end of a frame.
const FLUSH_AT: usize = 512;

impl Emitter {
    /// `dead_letters` / `tickers`: whether those records are wanted (their topic is set).
    pub fn new(queue: Queue, metrics: Metrics, dead_letters: bool, tickers: bool) -> Self {
        Self {
            queue,
            pending: Vec::with_capacity(FLUSH_AT),
            dedup: Dedup::new(DEDUP_WINDOW),
            metrics,
            dead_letters,
            tickers,
            max_ahead: None,
        }
    }

    /// Keeps out (as [`BadKind::AheadOfReceiveTime`]) every trade stamped more than `max`
    /// after it was received; `None` checks nothing. Only a trade ahead is refused: a snapshot
    /// or a backfill rightly delivers old trades.
    pub fn reject_ahead_of_receipt(&mut self, max: Option<std::time::Duration>) {
        self.max_ahead =
            max.map(|m| chrono::Duration::from_std(m).unwrap_or(chrono::Duration::MAX));
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether ticker updates are wanted.
    pub fn wants_tickers(&self) -> bool {
        self.tickers
    }

    async fn push(&mut self, record: Record) -> Result<(), Closed> {
        self.pending.push(record);
        if self.pending.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Its queue to Kafka, e.g. to see from a blocking thread whether the producer stopped.
    pub fn queue(&self) -> Queue {
        self.queue.clone()
    }

    /// Hands the pending records to the queue, waiting while it is full.
    pub async fn flush(&mut self) -> Result<(), Closed> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(FLUSH_AT));
        self.queue.send(batch).await
    }

    /// Marks a trade as sent without sending it (it is in Kafka from an earlier run).
    pub fn already_sent(&mut self, symbol: &str, trade_id: u64) {
        self.dedup.first_time(symbol, trade_id);
    }

    /// Marks every trade of `symbol` up to `trade_id` as sent (a history load resuming after
    /// the newest trade already on the topic).
    pub fn sent_up_to(&mut self, symbol: &str, trade_id: u64) {
        self.dedup.seen_up_to(symbol, trade_id);
    }

    /// Sends a trade unless the same (symbol, trade_id) was sent before.
    pub async fn trade(&mut self, trade: Trade) -> Result<(), Closed> {
        self.metrics.trades_received.inc();
        if !self.dedup.first_time(&trade.symbol, trade.trade_id) {
            self.metrics.duplicates_skipped.inc();
            return Ok(());
        }
        if let Some(max) = self.max_ahead {
            let ahead = trade.ts - trade.recv_ts;
            if ahead > max {
                let bad = Bad::new(
                    BadKind::AheadOfReceiveTime,
                    format!(
                        "{} trade {} stamped {:.3} s after its receipt (at most {} s allowed)",
                        trade.symbol,
                        trade.trade_id,
                        ahead.as_seconds_f64(),
                        max.num_seconds()
                    ),
                );
                return self.bad(&trade.exchange, &bad, &trade.to_json()).await;
            }
        }
        let record = Record {
            kind: RecordKind::Trade,
            timestamp_ms: trade.kafka_timestamp_ms(),
            payload: json(&trade),
            key: trade.symbol,
            headers: Vec::new(),
        };
        self.push(record).await
    }

    /// Counts, logs (at a limited rate per kind) and, when configured, dead-letters one piece
    /// of bad input.
    pub async fn bad(&mut self, source: &str, bad: &Bad, raw: &str) -> Result<(), Closed> {
        self.metrics
            .bad_input
            .record(bad.kind, &bad.detail, &source, "bad input skipped");
        if !self.dead_letters {
            return Ok(());
        }
        let now = Utc::now();
        let record = Record {
            kind: RecordKind::DeadLetter,
            key: bad.kind.label().to_string(),
            payload: raw.as_bytes().to_vec(),
            timestamp_ms: now.timestamp_millis(),
            headers: vec![
                ("reason".into(), bad.kind.label().into()),
                ("detail".into(), bad.detail.clone()),
                ("source".into(), source.into()),
                ("recv_ts".into(), now.to_rfc3339()),
            ],
        };
        self.push(record).await
    }

    /// Passes a ticker update on, keyed by symbol, stamped with its time (or now).
    pub async fn ticker(&mut self, item: TickerItem<'_>) -> Result<(), Closed> {
        if !self.tickers {
            return Ok(());
        }
        let record = Record {
            kind: RecordKind::Ticker,
            timestamp_ms: item.ts.unwrap_or_else(Utc::now).timestamp_millis(),
            key: item.symbol,
            payload: item.raw.as_bytes().to_vec(),
            headers: Vec::new(),
        };
        self.push(record).await
    }

    /// Emits the data of one parsed Kraken message: trades, tickers and their bad elements.
    /// Control messages carry no data and are left to the caller.
    pub async fn data(&mut self, source: &str, message: Message<'_>) -> Result<(), Closed> {
        match message {
            Message::Trades { trades, .. } => {
                for item in trades {
                    match item {
                        Ok(trade) => self.trade(trade).await?,
                        Err(BadItem { bad, raw }) => self.bad(source, &bad, raw).await?,
                    }
                }
            }
            Message::Ticker { items, .. } => {
                for item in items {
                    match item {
                        Ok(ticker) => self.ticker(ticker).await?,
                        Err(BadItem { bad, raw }) => self.bad(source, &bad, raw).await?,
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The trade's JSON (the contract's serde shape), in a buffer sized for it up front: this runs
/// once per trade.
fn json(trade: &Trade) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    serde_json::to_writer(&mut out, trade).expect("a Trade always serializes");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::kraken::protocol;
    use service::metrics::Registry;

    #[tokio::test]
    async fn dedups_keys_and_dead_letters() {
        let (queue, mut rx) = Queue::bounded(100);
        let metrics = Metrics::new(Registry::new("t"));
        let mut e = Emitter::new(queue, metrics.clone(), true, false);
        let frame = r#"{"channel":"trade","type":"snapshot","data":[
            {"symbol":"BTC/USD","side":"buy","price":1.5,"qty":2,"ord_type":"limit","trade_id":9,"timestamp":"2026-11-24T21:31:00.5Z"},
            {"symbol":"BTC/USD","side":"buy","price":-1,"qty":2,"ord_type":"limit","trade_id":10,"timestamp":"2026-11-24T21:31:00.5Z"},
            {"symbol":"BTC/USD","side":"buy","price":1.5,"qty":2,"ord_type":"limit","trade_id":9,"timestamp":"2026-11-24T21:31:00.5Z"}]}"#;
        let msg = protocol::parse(frame, Utc::now()).unwrap();
        e.data("test", msg).await.unwrap();
        e.flush().await.unwrap();
        drop(e);
        let mut batch = rx.recv().await.unwrap().into_iter();
        let trade = batch.next().unwrap();
        assert_eq!(trade.kind, RecordKind::Trade);
        assert_eq!(trade.key, "BTC/USD");
        let parsed: Trade = serde_json::from_slice(&trade.payload).unwrap();
        assert_eq!(trade.payload, parsed.to_json().into_bytes());
        let ts: chrono::DateTime<Utc> = "2026-11-24T21:31:00.5Z".parse().unwrap();
        assert_eq!(trade.timestamp_ms, ts.timestamp_millis());
        let dead = batch.next().unwrap();
        assert_eq!(dead.kind, RecordKind::DeadLetter);
        assert!(String::from_utf8(dead.payload)
            .unwrap()
            .contains("\"price\":-1"));
        assert_eq!(dead.headers[0], ("reason".into(), "not_positive".into()));
        assert!(batch.next().is_none());
        assert!(rx.recv().await.is_none());
        assert_eq!(metrics.duplicates_skipped.get(), 1);
        assert_eq!(metrics.trades_received.get(), 2);
        assert_eq!(metrics.bad(BadKind::NotPositive).get(), 1);
    }

    #[tokio::test]
    async fn only_trades_too_far_ahead_of_their_receipt_are_kept_out() {
        let (queue, mut rx) = Queue::bounded(100);
        let metrics = Metrics::new(Registry::new("t"));
        let mut e = Emitter::new(queue, metrics.clone(), true, false);
        let now = Utc::now();
        let trade = |id: u64, ts| Trade {
            exchange: "kraken".into(),
            symbol: "BTC/USD".into(),
            trade_id: id,
            price: 1.0,
            qty: 1.0,
            side: contract::Side::Buy,
            ord_type: "limit".into(),
            ts,
            recv_ts: now,
        };
        let minutes = chrono::Duration::minutes;
        // Unchecked: anything goes.
        e.trade(trade(1, now + minutes(60))).await.unwrap();
        e.reject_ahead_of_receipt(Some(std::time::Duration::from_secs(300)));
        e.trade(trade(2, now + minutes(4))).await.unwrap();
        e.trade(trade(3, now - minutes(600))).await.unwrap();
        e.trade(trade(4, now + minutes(6))).await.unwrap();
        e.flush().await.unwrap();
        drop(e);
        let batch = rx.recv().await.unwrap();
        let kinds: Vec<(RecordKind, &str)> =
            batch.iter().map(|r| (r.kind, r.key.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (RecordKind::Trade, "BTC/USD"),
                (RecordKind::Trade, "BTC/USD"),
                (RecordKind::Trade, "BTC/USD"),
                (RecordKind::DeadLetter, "ahead_of_receive_time"),
            ]
        );
        let kept: Trade = serde_json::from_slice(&batch[3].payload).unwrap();
        assert_eq!(kept.trade_id, 4);
        assert_eq!(metrics.bad(BadKind::AheadOfReceiveTime).get(), 1);
    }
}
