//! Turning a record value into a [`Signal`], and naming what is wrong when it is not one.
//!
//! A bad record must never stop the stream: the kinds here become the `kind` label of the
//! `skipped_total` counters ([`Skipped`]), so an operator sees *why* records are skipped, not
//! just how many; the log gets the first of each kind, then one line per kind every 10 s.

use std::fmt::Display;

use contract::Signal;
use service::bad_input::{BadInput, InputKind};
use service::metrics::Registry;

/// Why a record is not a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidKind {
    /// The record has no value (a tombstone) or an empty one.
    Empty,
    /// The value is not JSON at all (or not UTF-8).
    NotJson,
    /// Valid JSON, but not the shape of a signal (missing field, wrong type, unknown action).
    NotASignal,
}

impl InputKind for InvalidKind {
    const ALL: &'static [Self] = &[Self::Empty, Self::NotJson, Self::NotASignal];

    fn label(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotJson => "not_json",
            Self::NotASignal => "not_a_signal",
        }
    }
}

/// A record value that is not a signal, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {detail}", kind.label())]
pub struct Invalid {
    pub kind: InvalidKind,
    pub detail: String,
}

impl Invalid {
    /// Counts this input in `skipped` and logs it (rate-limited); `source` says where it came
    /// from (a partition and offset, a peer address).
    pub fn record(&self, skipped: &Skipped, source: &dyn Display) {
        skipped.record(
            self.kind,
            &self.detail,
            source,
            "skipping input that is not a signal",
        );
    }
}

/// The `skipped_total{kind=...}` counters of a service and their rate-limited warnings.
pub type Skipped = BadInput<InvalidKind>;

/// Registers `skipped_total` for every kind, so each shows up as 0 until it happens.
pub fn skipped(registry: &Registry, help: &str) -> Skipped {
    BadInput::new(registry, "skipped_total", help)
}

/// Parses one record value (or one received line, without its newline). A signal whose id
/// holds a control character is not one: the receiver acknowledges an id as a line of its own,
/// so an id with a newline would acknowledge ids that were never received.
pub fn decode(value: Option<&[u8]>) -> Result<Signal, Invalid> {
    let value = match value {
        Some(v) if !v.trim_ascii().is_empty() => v,
        _ => {
            return Err(Invalid {
                kind: InvalidKind::Empty,
                detail: "no value".into(),
            })
        }
    };
    let signal: Signal = serde_json::from_slice(value).map_err(|e| Invalid {
        kind: match e.classify() {
            serde_json::error::Category::Data => InvalidKind::NotASignal,
            _ => InvalidKind::NotJson,
        },
        detail: e.to_string(),
    })?;
    if signal.id.chars().any(char::is_control) {
        return Err(Invalid {
            kind: InvalidKind::NotASignal,
            detail: "the id holds a control character".into(),
        });
    }
    Ok(signal)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid signal value as the Spark query writes it (null indicators omitted).
    pub(crate) fn signal_json(strategy: &str, symbol: &str, minute: u32) -> String {
        format!(
            r#"{{"id":"{strategy}|{symbol}|2026-11-24T21:{minute:02}:00.000Z","strategy":"{strategy}","symbol":"{symbol}","bar_start":"2026-11-24T21:{m0:02}:00.000Z","bar_end":"2026-11-24T21:{minute:02}:00.000Z","open":1.0,"high":2.0,"low":0.5,"close":1.5,"volume":3.0,"trades":4,"bars":2,"indicators":{{"sma_fast":1.25}},"action":"BUY","reasons":["sma_cross_up"]}}"#,
            m0 = minute - 1
        )
    }

    #[test]
    fn kinds_of_bad_input() {
        assert!(decode(Some(signal_json("s", "BTC/USD", 5).as_bytes())).is_ok());
        let kind = |v: Option<&[u8]>| decode(v).unwrap_err().kind;
        assert_eq!(kind(None), InvalidKind::Empty);
        assert_eq!(kind(Some(b"  ")), InvalidKind::Empty);
        assert_eq!(kind(Some(b"{not json")), InvalidKind::NotJson);
        assert_eq!(kind(Some(&[0xff, 0xfe])), InvalidKind::NotJson);
        assert_eq!(kind(Some(br#"{"id":"x"}"#)), InvalidKind::NotASignal);
        assert_eq!(kind(Some(b"[1,2]")), InvalidKind::NotASignal);
        let wrong_action = signal_json("s", "BTC/USD", 5).replace("BUY", "MAYBE");
        assert_eq!(kind(Some(wrong_action.as_bytes())), InvalidKind::NotASignal);
        let forged_id = signal_json("s", "BTC/USD\\nx", 5);
        assert_eq!(kind(Some(forged_id.as_bytes())), InvalidKind::NotASignal);
    }

    #[test]
    fn skipped_input_is_counted_by_kind() {
        let registry = Registry::new("t");
        let skipped = skipped(&registry, "Skipped.");
        let bad = decode(Some(b"{not json")).unwrap_err();
        for _ in 0..5 {
            bad.record(&skipped, &"p0@1");
        }
        assert_eq!(registry.value("skipped_total"), 5.0);
        assert!(registry
            .render()
            .contains("t_skipped_total{kind=\"empty\"} 0\n"));
    }
}
