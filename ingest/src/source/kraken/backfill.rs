//! Fills the gap a long disconnection leaves. Kraken's snapshot on (re)subscribing holds the
//! last 50 trades per symbol; whatever traded before them while we were away would be lost
//! silently. Trade ids are a sequence per symbol, so the first trades of a symbol on a new
//! connection tell: if the lowest id among them is more than one above the last id seen, the
//! ids in between were missed. They are fetched from the REST `Trades` endpoint (throttled,
//! paged by its `since` cursor) and emitted BEFORE the frame that revealed the gap, so the
//! topic stays in trade-id order per symbol.
//!
//! A backfill that fails (REST down, a pair REST does not know, trades REST no longer has)
//! never holds up the live stream: the gap is counted (`backfill_failures_total`,
//! `unrecovered_trades_total`), logged as an error naming the lost ids, and the live trades
//! go on.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};
use contract::records::Trade;

use super::protocol::BadItem;
use super::rest::{self, RestClient, RestError, TRADES_PAGE};
use crate::pipeline::emit::Emitter;
use crate::pipeline::Closed;

const SOURCE: &str = "kraken-rest";

/// Pages requested beyond what the gap's size needs, before giving up on a cursor that does
/// not reach the gap's end.
const SPARE_PAGES: u64 = 3;

/// How far before the last trade seen the REST cursor starts: the two APIs write times with
/// different precision, and ids decide what is missing anyway.
const CURSOR_MARGIN: TimeDelta = TimeDelta::seconds(1);

/// The newest trade seen of a symbol.
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: u64,
    ts: DateTime<Utc>,
}

/// The trade-id sequence of every symbol across connections, and the REST client that fills
/// its gaps.
pub(super) struct Backfill {
    rest: RestClient,
    last: HashMap<String, Seen>,
    /// Symbols whose first trades on the current connection were already checked.
    checked: HashSet<String>,
}

/// How a backfill ended early.
enum Stop {
    Rest(RestError),
    Closed(Closed),
}

impl From<Closed> for Stop {
    fn from(c: Closed) -> Self {
        Stop::Closed(c)
    }
}

impl Backfill {
    pub(super) fn new(rest: RestClient) -> Self {
        Self {
            rest,
            last: HashMap::new(),
            checked: HashSet::new(),
        }
    }

    /// A new connection: the first trades of each symbol on it are checked again.
    pub(super) fn connected(&mut self) {
        self.checked.clear();
    }

    /// Called with every trade frame before it is emitted: fills the gap before any symbol's
    /// first trades on this connection, then remembers the newest trade of each symbol.
    pub(super) async fn before_emit(
        &mut self,
        trades: &[Result<Trade, BadItem<'_>>],
        emitter: &mut Emitter,
    ) -> Result<(), Closed> {
        // The lowest id per symbol seen first on this connection: a snapshot's order is not
        // relied on.
        let mut firsts: HashMap<&str, &Trade> = HashMap::new();
        for t in trades.iter().flatten() {
            if self.checked.contains(&t.symbol) {
                continue;
            }
            let first = firsts.entry(&t.symbol).or_insert(t);
            if t.trade_id < first.trade_id {
                *first = t;
            }
        }
        for (symbol, first) in firsts {
            self.checked.insert(symbol.to_string());
            if let Some(&seen) = self.last.get(symbol) {
                if first.trade_id > seen.id + 1 {
                    self.fill(symbol, seen, first.trade_id, emitter).await?;
                }
            }
        }
        // Once per trade: no allocation unless the symbol is new.
        for t in trades.iter().flatten() {
            let seen = Seen {
                id: t.trade_id,
                ts: t.ts,
            };
            match self.last.get_mut(&t.symbol) {
                Some(last) if t.trade_id > last.id => *last = seen,
                Some(_) => {}
                None => {
                    self.last.insert(t.symbol.clone(), seen);
                }
            }
        }
        Ok(())
    }

    /// Fetches and emits the trades of `symbol` after `seen` and before id `until`; counts and
    /// logs the outcome.
    async fn fill(
        &mut self,
        symbol: &str,
        seen: Seen,
        until: u64,
        emitter: &mut Emitter,
    ) -> Result<(), Closed> {
        let missing = until - seen.id - 1;
        let metrics = emitter.metrics().clone();
        metrics.gaps.inc();
        tracing::warn!(
            symbol,
            after = seen.id,
            before = until,
            missing,
            "trades missed while disconnected, beyond the snapshot: backfilling from REST"
        );
        let mut recovered = 0;
        let outcome = self
            .fetch(symbol, seen, until, emitter, &mut recovered)
            .await;
        metrics.backfilled_trades.add(recovered);
        let error = match outcome {
            Ok(()) if recovered == missing => {
                tracing::info!(symbol, recovered, "gap filled");
                return Ok(());
            }
            Ok(()) => "REST no longer has them".to_string(),
            Err(Stop::Rest(e)) => e.to_string(),
            Err(Stop::Closed(c)) => return Err(c),
        };
        metrics.backfill_failures.inc();
        metrics.unrecovered_trades.add(missing - recovered);
        tracing::error!(
            symbol,
            after = seen.id,
            before = until,
            recovered,
            lost = missing - recovered,
            error,
            "TRADES LOST: the gap could not be filled from REST; the live stream goes on"
        );
        Ok(())
    }

    /// Pages through `Trades` from just before `seen` until id `until - 1` is reached (or the
    /// pages run out), emitting the ids in between in order; `recovered` counts them.
    async fn fetch(
        &mut self,
        symbol: &str,
        seen: Seen,
        until: u64,
        emitter: &mut Emitter,
        recovered: &mut u64,
    ) -> Result<(), Stop> {
        let pair = self.rest.pair_name(symbol).await.map_err(Stop::Rest)?;
        let start = seen.ts - CURSOR_MARGIN;
        let mut since = rest::cursor(start);
        let mut next = seen.id + 1;
        let pages = (until - next) / TRADES_PAGE as u64 + 1 + SPARE_PAGES;
        for _ in 0..pages {
            let text = self.rest.trades(&pair, &since).await.map_err(Stop::Rest)?;
            let page = rest::parse_trades(&text, symbol, Utc::now()).map_err(Stop::Rest)?;
            let empty = page.trades.is_empty();
            for item in page.trades {
                match item {
                    Ok(t) if t.trade_id >= until => return Ok(()),
                    Ok(t) if t.trade_id >= next => {
                        next = t.trade_id + 1;
                        *recovered += 1;
                        emitter.trade(t).await?;
                    }
                    Ok(_) => {}
                    Err(BadItem { bad, raw }) => emitter.bad(SOURCE, &bad, raw).await?,
                }
            }
            emitter.flush().await?;
            if next >= until || empty || page.last == since {
                return Ok(());
            }
            since = page.last;
        }
        Ok(())
    }
}
