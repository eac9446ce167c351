//! History from Kraken's downloadable trade-history CSV: one file per pair, one trade per
//! line, `unix_time,price,volume`, no header, oldest first.
//!
//! The file has no trade id, no side and no order type, which the contract's [`Trade`] has:
//! - `trade_id` = `second × 1,000,000 + n`, where `second` is the trade's whole Unix second
//!   and `n` counts the trades before it in the same second (0 for the first). It depends only
//!   on the file's lines of that second, so loading the same file again (or a later file that
//!   starts where it ended) gives the same ids, and the query's de-duplication by (symbol,
//!   trade_id) holds; ids grow with time, as Kraken's own do. A second with a million trades
//!   or more would overflow `n`: those lines are bad input.
//! - `side` by the tick rule: `buy` when the price rose from the previous trade's, `sell`
//!   when it fell, the previous side when it did not move (`buy` at the start). An estimate;
//!   the query does not read the side.
//! - `ord_type` = `unknown`.
//!
//! A line that does not parse (not three fields, a time, price or volume that is not a
//! positive number, a time earlier than the line before) is counted by kind, logged at a
//! limited rate with its line number, and skipped; empty lines are ignored.
//!
//! [`Trade`]: contract::records::Trade

use std::path::Path;

use chrono::{DateTime, Utc};
use contract::records::{Side, Trade};
use service::shutdown::Shutdown;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{HistoryError, HistorySettings, Progress};
use crate::pipeline::emit::Emitter;
use crate::source::kraken::protocol::{Bad, BadKind, EXCHANGE};
use crate::source::kraken::rest;

const SOURCE: &str = "kraken-csv";

/// Trades per second the id scheme has room for.
const PER_SECOND: u64 = 1_000_000;

/// The deterministic trade id of the `n`th trade (from 0) of Unix second `second`.
pub fn trade_id(second: i64, n: u64) -> u64 {
    second.max(0) as u64 * PER_SECOND + n
}

/// What the parser remembers from the last good line.
#[derive(Debug, Default)]
struct Last {
    ts: Option<DateTime<Utc>>,
    /// Trades so far in `ts`'s second.
    in_second: u64,
    price: f64,
    side: Option<Side>,
}

fn number(field: &str, name: &str, line: u64) -> Result<f64, Bad> {
    let v: f64 = field.trim().parse().map_err(|_| {
        Bad::new(
            BadKind::NotNumeric,
            format!("line {line}: {name} `{}` is not a number", field.trim()),
        )
    })?;
    if !v.is_finite() {
        return Err(Bad::new(
            BadKind::NotFinite,
            format!("line {line}: {name} is {v}"),
        ));
    }
    if v <= 0.0 {
        return Err(Bad::new(
            BadKind::NotPositive,
            format!("line {line}: {name} is {v}"),
        ));
    }
    Ok(v)
}

/// Parses line number `line` (from 1) into a trade of `symbol`, updating `last`.
fn parse_line(
    text: &str,
    line: u64,
    symbol: &str,
    last: &mut Last,
    recv_ts: DateTime<Utc>,
) -> Result<Trade, Bad> {
    let fields: Vec<&str> = text.split(',').collect();
    if fields.len() != 3 {
        return Err(Bad::new(
            BadKind::MissingField,
            format!(
                "line {line}: {} fields, not 3 (unix_time,price,volume)",
                fields.len()
            ),
        ));
    }
    let ts = rest::seconds(fields[0])
        .map_err(|b| Bad::new(b.kind, format!("line {line}: {}", b.detail)))?;
    let price = number(fields[1], "price", line)?;
    let qty = number(fields[2], "volume", line)?;
    let second = ts.timestamp();
    let n = match last.ts {
        Some(prev) if ts < prev => {
            return Err(Bad::new(
                BadKind::InvalidField,
                format!("line {line}: time {ts} is before the previous trade's ({prev})"),
            ))
        }
        Some(prev) if prev.timestamp() == second => last.in_second,
        _ => 0,
    };
    if n >= PER_SECOND {
        return Err(Bad::new(
            BadKind::InvalidField,
            format!("line {line}: more than {PER_SECOND} trades in second {second}"),
        ));
    }
    let side = match last.side {
        Some(_) if price > last.price => Side::Buy,
        Some(_) if price < last.price => Side::Sell,
        Some(side) => side,
        None => Side::Buy,
    };
    *last = Last {
        ts: Some(ts),
        in_second: n + 1,
        price,
        side: Some(side),
    };
    Ok(Trade {
        exchange: EXCHANGE.to_string(),
        symbol: symbol.to_string(),
        trade_id: trade_id(second, n),
        price,
        qty,
        side,
        ord_type: "unknown".to_string(),
        ts,
        recv_ts,
    })
}

/// Loads the trades of `file` in `[from, to)` as `symbol`.
pub(super) async fn run(
    file: &Path,
    symbol: &str,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
    settings: &HistorySettings,
    emitter: &mut Emitter,
    shutdown: Shutdown,
) -> Result<(), HistoryError> {
    let read_error = |error| HistoryError::Read {
        file: file.to_path_buf(),
        error,
    };
    let handle = tokio::fs::File::open(file).await.map_err(read_error)?;
    let size = handle.metadata().await.map_err(read_error)?.len().max(1);
    let mut lines = BufReader::with_capacity(1 << 20, handle);
    let mut progress = Progress::new(settings.progress_interval);
    let recv_ts = Utc::now();
    let mut last = Last::default();
    let (mut line, mut bytes, mut buf) = (0u64, 0u64, String::new());
    let mut covered = None;
    loop {
        buf.clear();
        let n = lines.read_line(&mut buf).await.map_err(read_error)?;
        if n == 0 {
            break;
        }
        line += 1;
        bytes += n as u64;
        let text = buf.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        match parse_line(text, line, symbol, &mut last, recv_ts) {
            Ok(t) if t.ts >= to => break,
            Ok(t) if from.is_some_and(|f| t.ts < f) => {}
            Ok(t) => {
                progress.trades += 1;
                covered = Some(t.ts);
                emitter.trade(t).await?;
            }
            Err(bad) => emitter.bad(SOURCE, &bad, text).await?,
        }
        if line % 65_536 == 0 {
            if shutdown.is_stopped() {
                tracing::warn!(
                    line,
                    "stopped before the end of the file; run again to resume"
                );
                return Ok(());
            }
            progress.update(bytes as f64 / size as f64, covered, false);
        }
    }
    progress.update(1.0, covered, true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(text: &str) -> Vec<Result<Trade, Bad>> {
        let mut last = Last::default();
        text.lines()
            .enumerate()
            .map(|(i, l)| parse_line(l, i as u64 + 1, "BTC/USD", &mut last, Utc::now()))
            .collect()
    }

    #[test]
    fn ids_count_trades_within_their_second_and_sides_follow_ticks() {
        let trades: Vec<Trade> = parse_all(
            "1381095255,122.00000,0.10000000\n\
             1381095255,123.5,0.2\n\
             1381095255.5,123.5,0.3\n\
             1381095256,120,1",
        )
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let ids: Vec<u64> = trades.iter().map(|t| t.trade_id).collect();
        assert_eq!(
            ids,
            [
                1_381_095_255_000_000,
                1_381_095_255_000_001,
                1_381_095_255_000_002,
                1_381_095_256_000_000
            ]
        );
        let sides: Vec<Side> = trades.iter().map(|t| t.side).collect();
        assert_eq!(sides, [Side::Buy, Side::Buy, Side::Buy, Side::Sell]);
        assert_eq!((trades[0].price, trades[0].qty), (122.0, 0.1));
        assert_eq!(trades[2].ts.timestamp_subsec_millis(), 500);
        assert_eq!(trades[0].ord_type, "unknown");
    }

    #[test]
    fn bad_lines_say_why_and_where() {
        let results = parse_all(
            "1381095255,122,0.1\n\
             1381095255,122\n\
             1381095255,abc,0.1\n\
             1381095255,122,-1\n\
             soon,122,1\n\
             1381095254,122,1\n\
             1381095255,122,0.1",
        );
        let kinds: Vec<Option<BadKind>> = results
            .iter()
            .map(|r| r.as_ref().err().map(|b| b.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                None,
                Some(BadKind::MissingField),
                Some(BadKind::NotNumeric),
                Some(BadKind::NotPositive),
                Some(BadKind::BadTimestamp),
                Some(BadKind::InvalidField),
                None
            ]
        );
        assert!(results[2]
            .as_ref()
            .unwrap_err()
            .detail
            .starts_with("line 3:"));
        // Bad lines do not take an id: the good line after them is the second of its second.
        assert_eq!(results[6].as_ref().unwrap().trade_id, 1_381_095_255_000_001);
    }
}
