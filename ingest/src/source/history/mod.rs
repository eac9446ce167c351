//! History into Kafka with the live contract: the same [`Trade`] JSON, keyed by symbol,
//! stamped with the trade time, from Kraken's public REST `Trades` endpoint (`rest`) or from
//! Kraken's downloadable trade-history CSV (`csv`), between two times.
//!
//! A load resumes where the topic ends: each symbol's trades are sent in trade-id order, so
//! the newest trade of a symbol already on the topic marks everything up to its id as loaded
//! (those ids are skipped, counted as duplicates), and REST paging starts just before its
//! time. Running the same command again after an interruption (or a failure) therefore puts
//! every trade in Kafka exactly once. This is why history belongs in a topic of its own: a
//! topic that live ingest also writes to has newer trades, and a load of older history there
//! would be skipped as already loaded (`--no-resume` sends it anyway; the Spark query drops
//! repeats within its watermark, a backtest drops them all).
//!
//! [`Trade`]: contract::records::Trade

mod csv;
mod rest;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use service::shutdown::Shutdown;

use crate::pipeline::emit::Emitter;
use crate::pipeline::resume::{self, Newest, ResumeError};
use crate::pipeline::topic::{self, TopicError, TopicState};
use crate::pipeline::{Closed, OutputSettings};
use crate::source::kraken::protocol::EXCHANGE;
use crate::source::kraken::rest::RestError;

pub use csv::trade_id as csv_trade_id;

/// Where the history comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryInput {
    /// Kraken's public REST `Trades` endpoint, paged by its `last` cursor.
    Rest(RestHistory),
    /// A Kraken trade-history CSV file (`unix_time,price,volume`, no header) of one pair.
    Csv { file: PathBuf, symbol: String },
}

/// The REST endpoint's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RestHistory {
    /// The API's root URL.
    pub url: String,
    /// Pairs in WebSocket v2 notation (`BTC/USD`), loaded one after the other.
    pub symbols: Vec<String>,
    /// Least time between two requests (Kraken allows a public caller about one per second).
    pub interval: Duration,
    /// Give up on one request after this long.
    pub timeout: Duration,
    /// Attempts of one page (HTTP 429 or 5xx, Kraken's "too many requests" or "unavailable",
    /// a network error) before the load fails; the delays between them double.
    pub attempts: u32,
    /// The first delay before a retry.
    pub retry_initial: Duration,
    /// The longest delay before a retry.
    pub retry_max: Duration,
}

impl Default for RestHistory {
    fn default() -> Self {
        Self {
            url: "https://api.kraken.com".into(),
            symbols: vec!["BTC/USD".into()],
            interval: Duration::from_millis(1100),
            timeout: Duration::from_secs(30),
            attempts: 8,
            retry_initial: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// Everything a history load needs besides the output.
#[derive(Debug, Clone, PartialEq)]
pub struct HistorySettings {
    pub input: HistoryInput,
    /// First trade time loaded (inclusive); `None`: from the start (CSV only).
    pub from: Option<DateTime<Utc>>,
    /// Trades at or after this time are not loaded; `None`: up to the time the load starts.
    pub to: Option<DateTime<Utc>>,
    /// Resume after the newest trade of each symbol already on the topic.
    pub resume: bool,
    /// Records read back per partition at most to find those newest trades.
    pub resume_lookback: i64,
    /// Partitions of the topic when the load creates it.
    pub partitions: i32,
    /// How often progress is logged.
    pub progress_interval: Duration,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            input: HistoryInput::Rest(RestHistory::default()),
            from: None,
            to: None,
            resume: true,
            resume_lookback: 100_000,
            partitions: 4,
            progress_interval: Duration::from_secs(5),
        }
    }
}

impl HistorySettings {
    /// The pairs loaded.
    pub fn symbols(&self) -> Vec<String> {
        match &self.input {
            HistoryInput::Rest(r) => r.symbols.clone(),
            HistoryInput::Csv { symbol, .. } => vec![symbol.clone()],
        }
    }
}

/// Why a history load stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("cannot find where the topic ends: {0}")]
    Resume(#[from] ResumeError),
    #[error(
        "{symbol}: page {page} (since={since}) failed: {error}; nothing of that page was \
         written; the same command resumes after the last trade written"
    )]
    Page {
        symbol: String,
        page: u64,
        since: String,
        error: RestError,
    },
    #[error("cannot read {file}: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Closed(#[from] Closed),
}

/// Loads the history into the output's trades topic (created keeping every record when
/// missing), resuming after what the topic holds; returns once every trade is handed to the
/// emitter (the caller flushes).
pub(crate) async fn run(
    settings: &HistorySettings,
    output: &OutputSettings,
    emitter: &mut Emitter,
    shutdown: Shutdown,
) -> Result<(), HistoryError> {
    let to = settings.to.unwrap_or_else(Utc::now);
    let topic = &output.topics.trades;
    let oldest = settings.from.unwrap_or(DateTime::UNIX_EPOCH);
    match topic::ensure_keeps(&output.kafka, topic, settings.partitions, oldest).await? {
        TopicState::Created => tracing::info!(
            topic,
            partitions = settings.partitions,
            "created the topic, keeping every record (retention.ms=-1)"
        ),
        TopicState::Keeps { retention_ms } => {
            tracing::info!(topic, retention_ms, "loading into the existing topic")
        }
    }
    let symbols = settings.symbols();
    let newest = if settings.resume {
        resume::newest(output, EXCHANGE, &symbols, settings.resume_lookback).await?
    } else {
        HashMap::new()
    };
    for (symbol, n) in &newest {
        emitter.sent_up_to(symbol, n.trade_id);
        tracing::info!(
            symbol,
            after_trade_id = n.trade_id,
            at = %DateTime::from_timestamp_millis(n.timestamp_ms).unwrap_or_default(),
            "resuming after the newest trade already on the topic"
        );
    }
    match &settings.input {
        HistoryInput::Rest(r) => {
            let from = settings.from.unwrap_or(DateTime::UNIX_EPOCH);
            rest::run(r, from, to, &newest, settings, emitter, shutdown).await
        }
        HistoryInput::Csv { file, symbol } => {
            csv::run(file, symbol, settings.from, to, settings, emitter, shutdown).await
        }
    }
}

/// Where a symbol's load starts: `from`, or just before the newest trade already loaded.
fn start_of(from: DateTime<Utc>, newest: Option<&Newest>) -> DateTime<Utc> {
    // The REST cursor and the record timestamp differ in precision; ids decide anyway.
    const MARGIN: TimeDelta = TimeDelta::seconds(1);
    newest
        .and_then(|n| DateTime::from_timestamp_millis(n.timestamp_ms))
        .map_or(from, |t| from.max(t - MARGIN))
}

/// Progress of a load, logged every `interval`: pages, trades, how far event time got, and an
/// estimate of the time left from the share of the work done.
struct Progress {
    started: Instant,
    last_log: Instant,
    interval: Duration,
    pages: u64,
    trades: u64,
}

impl Progress {
    fn new(interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last_log: now,
            interval,
            pages: 0,
            trades: 0,
        }
    }

    /// Logs when due (or when `last`): `done` is the share of the whole load done (0 to 1),
    /// `covered` the newest trade time reached.
    fn update(&mut self, done: f64, covered: Option<DateTime<Utc>>, last: bool) {
        if !last && self.last_log.elapsed() < self.interval {
            return;
        }
        self.last_log = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if done > 0.0 && !last {
            format!("{:.0} s", elapsed * (1.0 - done) / done)
        } else {
            "-".into()
        };
        tracing::info!(
            pages = self.pages,
            trades = self.trades,
            covered_to = %covered.map_or("-".into(), |t| t.to_rfc3339()),
            done = %format!("{:.1}%", 100.0 * done.clamp(0.0, 1.0)),
            elapsed = %format!("{elapsed:.0} s"),
            eta = %eta,
            "{}", if last { "history loaded" } else { "loading history" }
        );
    }
}
