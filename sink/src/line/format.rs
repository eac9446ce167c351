//! One signal as one line: NDJSON (the same JSON object as in Kafka) or a compact text line.
//!
//! NDJSON passes the record's bytes through untouched, which is both the contract ("the same
//! object as in Kafka") and the cheapest thing to do; only a value that spans several lines is
//! re-serialized, since a raw newline would split it in two on the wire.

use std::fmt::Write as _;

use common::{Action, Signal};

/// The line format on the wire (forwarder) or on screen (receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The signal's JSON object, one per line.
    Ndjson,
    /// `bar_end ACTION symbol strategy close=.. reasons=a,b id=..`, for people and plain tools.
    Text,
}

/// Appends `signal` as one line, newline included, to `out`. `raw` is the JSON it was read from.
pub fn write_line(format: Format, signal: &Signal, raw: &[u8], out: &mut Vec<u8>) {
    match format {
        Format::Ndjson => {
            let raw = raw.trim_ascii();
            if raw.contains(&b'\n') || raw.contains(&b'\r') {
                let value: serde_json::Value =
                    serde_json::from_slice(raw).expect("raw already parsed as a signal");
                serde_json::to_writer(&mut *out, &value).expect("writing to a Vec never fails");
            } else {
                out.extend_from_slice(raw);
            }
        }
        Format::Text => {
            let mut s = String::with_capacity(160);
            let _ = write!(
                s,
                "{} {} {} {} close={} reasons={} id={}",
                signal
                    .bar_end
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                action_name(signal.action),
                signal.symbol,
                signal.strategy,
                signal.close,
                signal.reasons.join(","),
                signal.id
            );
            out.extend_from_slice(s.as_bytes());
        }
    }
    out.push(b'\n');
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Buy => "BUY",
        Action::Sell => "SELL",
        Action::Hold => "HOLD",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::decode::tests::signal_json;

    #[test]
    fn ndjson_passes_the_object_through_and_text_is_one_line() {
        let json = signal_json("trend", "BTC/USD", 5);
        let s: Signal = serde_json::from_str(&json).unwrap();
        let mut out = Vec::new();
        write_line(Format::Ndjson, &s, json.as_bytes(), &mut out);
        assert_eq!(out, format!("{json}\n").into_bytes());

        let pretty = serde_json::to_string_pretty(&s).unwrap();
        out.clear();
        write_line(Format::Ndjson, &s, pretty.as_bytes(), &mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Signal = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);

        out.clear();
        write_line(Format::Text, &s, json.as_bytes(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-24T21:05:00.000Z BUY BTC/USD trend close=1.5 reasons=sma_cross_up \
             id=trend|BTC/USD|2026-11-24T21:05:00.000Z\n"
        );
    }
}
