//! One signal as one line: NDJSON (the same JSON object as in Kafka) or a compact text line.
//!
//! NDJSON passes the record's bytes through untouched, which is both the contract ("the same
//! object as in Kafka") and the cheapest thing to do; only a value that spans several lines is
//! re-serialized, since a raw newline would split it in two on the wire. The text line is for
//! people: its price is shown as a person reads it (`3540.47`, not the `3540.4700000000003`
//! that binary floating point makes of it); the JSON keeps full precision. Its text fields are
//! escaped (`\n`, `\r`, `\t`, `\\`, `\u{..}` for other control characters), so a field
//! holding a newline cannot forge a line.

use std::fmt::Write as _;

use contract::{Action, Signal};

/// Significant digits of a price in a text line: more than any market quotes, fewer than the
/// 15-17 where the noise of binary floating point shows.
const PRICE_DIGITS: usize = 10;

/// The line format on the wire (forwarder) or on screen (receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The signal's JSON object, one per line.
    Ndjson,
    /// `bar_end ACTION symbol strategy close=.. reasons=a,b id=..`, for people and plain tools.
    Text,
}

/// Appends `signal` as one line, newline included, to `out`. `raw` is the JSON it was read from.
pub(crate) fn write_line(format: Format, signal: &Signal, raw: &[u8], out: &mut Vec<u8>) {
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
                Escaped(&signal.symbol),
                Escaped(&signal.strategy),
                readable(signal.close),
                Escaped(&signal.reasons.join(",")),
                Escaped(&signal.id)
            );
            out.extend_from_slice(s.as_bytes());
        }
    }
    out.push(b'\n');
}

/// A text field as shown in a text line: control characters and `\` escaped.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// `x` rounded to [`PRICE_DIGITS`] significant digits; displayed with `{}` (the shortest form
/// that reads back as the same number) it has no trailing zeros and no float noise.
fn readable(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.*e}", PRICE_DIGITS - 1).parse().unwrap_or(x)
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

    #[test]
    fn text_fields_cannot_forge_lines() {
        let json = signal_json("trend", "BTC/USD", 5);
        let mut s: Signal = serde_json::from_str(&json).unwrap();
        s.symbol = "BTC/USD\n2026-11-24T21:06:00.000Z SELL ETH/USD\r\u{2028}\u{7}\\".into();
        s.strategy = "t\tx".into();
        s.reasons = vec!["a\nb".into()];
        let mut out = Vec::new();
        write_line(Format::Text, &s, json.as_bytes(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        assert!(!text.contains(['\r', '\t', '\u{2028}', '\u{7}']), "{text}");
        assert!(
            text.contains(
                " BTC/USD\\n2026-11-24T21:06:00.000Z SELL ETH/USD\\r\\u{2028}\\u{7}\\\\ t\\tx "
            ),
            "{text}"
        );
        assert!(text.contains(" reasons=a\\nb "), "{text}");
    }

    #[test]
    fn text_prices_read_as_a_person_writes_them() {
        let shown = |x: f64| readable(x).to_string();
        assert_eq!(shown(3540.4700000000003), "3540.47");
        assert_eq!(shown(0.1 + 0.2), "0.3");
        assert_eq!(shown(0.599115), "0.599115");
        assert_eq!(shown(65515.1), "65515.1");
        assert_eq!(shown(65001.0), "65001");
        assert_eq!(shown(0.000012345678901), "0.0000123456789");
        assert_eq!(shown(0.0), "0");
        assert_eq!(shown(f64::NAN), "NaN");

        let json = signal_json("trend", "BTC/USD", 5)
            .replace("\"close\":1.5", "\"close\":3540.4700000000003");
        let s: Signal = serde_json::from_str(&json).unwrap();
        let mut out = Vec::new();
        write_line(Format::Text, &s, json.as_bytes(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(" close=3540.47 "), "{text}");
        let mut out = Vec::new();
        write_line(Format::Ndjson, &s, json.as_bytes(), &mut out);
        let back: Signal = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            back.close, 3540.4700000000003,
            "the JSON keeps full precision"
        );
    }
}
