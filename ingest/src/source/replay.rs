//! The `replay` source: a JSON-lines file of Kraken v2 frames (as `ingest kraken --record`
//! writes them) or of normalized trades (as found on `market.trades`), or a mix, sent at the
//! recorded speed, N times faster, or as fast as possible.
//!
//! Lines go through the same parser and the same checks as live frames, so a recording with
//! bad input exercises the bad-input path offline. A line that names a `channel` or `method`
//! is a Kraken frame; any other line is read as a normalized trade.

use std::path::PathBuf;

use chrono::Utc;
use contract::records::Trade;
use service::shutdown::Shutdown;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::pipeline::emit::Emitter;
use crate::pipeline::Closed;
use crate::source::kraken::protocol::{self, Bad, BadKind, Message};
use crate::source::pace::{Pacer, Speed};

/// Settings of the `replay` source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySettings {
    /// JSON-lines file: Kraken v2 frames (as the `kraken` source records them) and/or
    /// normalized trades. There is no default file: an empty path fails to open.
    pub file: PathBuf,
    /// How fast the recorded event time is played (default: the recorded speed).
    pub speed: Speed,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {file}: {error}")]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Closed(#[from] Closed),
}

const SOURCE: &str = "replay";

/// Replays the file into the emitter, to its end or until shutdown.
pub(crate) async fn run(
    settings: &ReplaySettings,
    emitter: &mut Emitter,
    mut shutdown: Shutdown,
) -> Result<(), ReplayError> {
    let read_err = |error| ReplayError::Read {
        file: settings.file.clone(),
        error,
    };
    let file = tokio::fs::File::open(&settings.file)
        .await
        .map_err(read_err)?;
    let mut lines = BufReader::with_capacity(1 << 20, file).split(b'\n');
    let mut pacer = Pacer::new(settings.speed);
    let mut n = 0u64;
    while let Some(line) = lines.next_segment().await.map_err(read_err)? {
        if shutdown.is_stopped() {
            break;
        }
        let Ok(line) = std::str::from_utf8(&line) else {
            emitter.metrics().frames.inc();
            let bad = Bad::new(BadKind::NotJson, "line is not UTF-8");
            emitter
                .bad(SOURCE, &bad, &String::from_utf8_lossy(&line))
                .await?;
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        n += 1;
        emitter.metrics().frames.inc();
        let now = Utc::now();
        if line.contains("\"channel\"") || line.contains("\"method\"") {
            match protocol::parse(line, now) {
                Ok(message) => {
                    if let Some(ts) = first_trade_time(&message) {
                        pacer.wait(ts, emitter, &mut shutdown).await?;
                    }
                    emitter.data(SOURCE, message).await?;
                }
                Err(bad) => emitter.bad(SOURCE, &bad, line).await?,
            }
        } else {
            match normalized(line) {
                Ok(mut trade) => {
                    pacer.wait(trade.ts, emitter, &mut shutdown).await?;
                    trade.recv_ts = Utc::now();
                    emitter.trade(trade).await?;
                }
                Err(bad) => emitter.bad(SOURCE, &bad, line).await?,
            }
        }
    }
    tracing::info!(lines = n, file = %settings.file.display(), "replay finished");
    Ok(())
}

fn first_trade_time(message: &Message<'_>) -> Option<chrono::DateTime<Utc>> {
    match message {
        Message::Trades { trades, .. } => trades.iter().find_map(|t| t.as_ref().ok().map(|t| t.ts)),
        _ => None,
    }
}

/// A normalized trade line, held to the same rules as a live trade.
fn normalized(line: &str) -> Result<Trade, Bad> {
    let trade: Trade = serde_json::from_str(line).map_err(|e| {
        if serde_json::from_str::<serde::de::IgnoredAny>(line).is_err() {
            Bad::new(BadKind::NotJson, e.to_string())
        } else if e.to_string().starts_with("missing field") {
            Bad::new(BadKind::MissingField, e.to_string())
        } else {
            Bad::new(BadKind::InvalidField, e.to_string())
        }
    })?;
    for (name, v) in [("price", trade.price), ("qty", trade.qty)] {
        if !v.is_finite() {
            return Err(Bad::new(BadKind::NotFinite, format!("`{name}` is {v}")));
        }
        if v <= 0.0 {
            return Err(Bad::new(BadKind::NotPositive, format!("`{name}` is {v}")));
        }
    }
    if trade.symbol.is_empty() {
        return Err(Bad::new(BadKind::InvalidField, "empty `symbol`"));
    }
    Ok(trade)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_lines_are_checked() {
        let good = r#"{"exchange":"kraken","symbol":"BTC/USD","trade_id":1,"price":2.0,"qty":0.5,"side":"buy","ord_type":"market","ts":"2026-11-24T21:31:00.123456Z","recv_ts":"2026-11-24T21:31:00.2Z"}"#;
        assert_eq!(normalized(good).unwrap().trade_id, 1);
        let kind = |s: &str| normalized(s).unwrap_err().kind;
        assert_eq!(kind(&good.replace("2.0", "-2.0")), BadKind::NotPositive);
        assert_eq!(
            kind(&good.replace("\"trade_id\":1,", "")),
            BadKind::MissingField
        );
        assert_eq!(
            kind(&good.replace("\"buy\"", "\"up\"")),
            BadKind::InvalidField
        );
        assert_eq!(kind("{oops"), BadKind::NotJson);
    }
}
