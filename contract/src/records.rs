//! The two records that cross Kafka: [`Trade`] on `market.trades` and [`Signal`] on `signals`.
//!
//! They are the contract between the Rust services and the Spark query, so the JSON field names
//! here are the ones the query reads ([`TRADE_SPARK_SCHEMA`]) and writes. A test checks that the
//! Spark schema and the serde shape of [`Trade`] name the same fields.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Which side of the book the taker was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

/// One executed trade, normalized from whatever exchange it came from.
///
/// Timestamps are serialized as RFC 3339 in UTC with microseconds (`2026-11-24T21:31:00.123456Z`),
/// the precision Kraken reports and a format Spark's `from_json` parses as a `TIMESTAMP`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// Exchange name, lower case (`kraken`, `simulator`).
    pub exchange: String,
    /// Pair in Kraken v2 notation, `BTC/USD`. Also the Kafka key.
    pub symbol: String,
    /// Exchange-assigned trade id, unique per symbol.
    pub trade_id: u64,
    pub price: f64,
    pub qty: f64,
    pub side: Side,
    /// `market` or `limit`.
    pub ord_type: String,
    /// Trade time at the exchange: the event time of the whole pipeline.
    #[serde(with = "micros")]
    pub ts: DateTime<Utc>,
    /// When our ingest received it.
    #[serde(with = "micros")]
    pub recv_ts: DateTime<Utc>,
}

/// The Spark DDL schema of a [`Trade`] JSON value, for `from_json`.
pub const TRADE_SPARK_SCHEMA: &str = "exchange STRING, symbol STRING, trade_id BIGINT, \
     price DOUBLE, qty DOUBLE, side STRING, ord_type STRING, ts TIMESTAMP, recv_ts TIMESTAMP";

impl Trade {
    /// The Kafka record key: the symbol, so one symbol's trades stay ordered in one partition.
    pub fn key(&self) -> &str {
        &self.symbol
    }

    /// Kafka record timestamp: the exchange's trade time, in milliseconds.
    pub fn kafka_timestamp_ms(&self) -> i64 {
        self.ts.timestamp_millis()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Trade always serializes")
    }
}

/// What a strategy says to do on a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Buy,
    Sell,
    Hold,
}

/// Indicator values of one bar by series name, computed over the strategy's lookback window:
/// `sma_fast`, `rsi`, `macd_signal` for the classic indicators, the strategy's own names for
/// named ones (`ema_fast`), `name.output` for each output of a multi-output one (`stoch.k`,
/// `bb.upper`).
///
/// A series without a value (warm-up: fewer bars than the indicator needs) is absent: Spark's
/// `to_json` omits null fields, and an explicit `null` reads the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "BTreeMap<String, Option<f64>>")]
pub struct Indicators(BTreeMap<String, f64>);

impl Indicators {
    /// The value of series `name`, `None` when it has none for this bar.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    /// Sets series `name`; `None` removes it.
    pub fn set(&mut self, name: &str, value: Option<f64>) {
        match value {
            Some(v) => self.0.insert(name.to_string(), v),
            None => self.0.remove(name),
        };
    }

    /// Every series with a value, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<BTreeMap<String, Option<f64>>> for Indicators {
    fn from(values: BTreeMap<String, Option<f64>>) -> Self {
        Indicators(
            values
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect(),
        )
    }
}

impl<'a> FromIterator<(&'a str, Option<f64>)> for Indicators {
    fn from_iter<I: IntoIterator<Item = (&'a str, Option<f64>)>>(iter: I) -> Self {
        let mut out = Indicators::default();
        for (name, value) in iter {
            out.set(name, value);
        }
        out
    }
}

/// One strategy's verdict on one closed bar of one symbol, as written by the Spark query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// `strategy|symbol|bar_end` (bar_end in RFC 3339): stable across re-deliveries, so any
    /// consumer can de-duplicate on it.
    pub id: String,
    pub strategy: String,
    pub symbol: String,
    pub bar_start: DateTime<Utc>,
    pub bar_end: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    /// Number of trades in the bar (0 for a filled, empty bar).
    pub trades: u64,
    /// Bars of history inside the lookback window, this one included.
    pub bars: u32,
    pub indicators: Indicators,
    pub action: Action,
    /// Names of the rules that fired, e.g. `sma_cross_up`, `rsi_exit_oversold`.
    #[serde(default)]
    pub reasons: Vec<String>,
}

impl Signal {
    /// The deterministic id of a (strategy, symbol, bar) triple.
    pub fn make_id(strategy: &str, symbol: &str, bar_end: DateTime<Utc>) -> String {
        format!(
            "{strategy}|{symbol}|{}",
            bar_end.to_rfc3339_opts(SecondsFormat::Millis, true)
        )
    }
}

/// RFC 3339, UTC, always six fractional digits.
mod micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trade() -> Trade {
        Trade {
            exchange: "kraken".into(),
            symbol: "BTC/USD".into(),
            trade_id: 123,
            price: 65000.1,
            qty: 0.01,
            side: Side::Buy,
            ord_type: "market".into(),
            ts: "2026-11-24T21:31:00.123456Z".parse().unwrap(),
            recv_ts: "2026-11-24T21:31:00.200000Z".parse().unwrap(),
        }
    }

    #[test]
    fn trade_json_matches_the_contract() {
        let json = trade().to_json();
        assert_eq!(
            json,
            r#"{"exchange":"kraken","symbol":"BTC/USD","trade_id":123,"price":65000.1,"qty":0.01,"side":"buy","ord_type":"market","ts":"2026-11-24T21:31:00.123456Z","recv_ts":"2026-11-24T21:31:00.200000Z"}"#
        );
        assert_eq!(serde_json::from_str::<Trade>(&json).unwrap(), trade());
    }

    #[test]
    fn spark_schema_names_exactly_the_trade_fields() {
        let value: serde_json::Value = serde_json::from_str(&trade().to_json()).unwrap();
        let json_fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let ddl_fields: Vec<&str> = TRADE_SPARK_SCHEMA
            .split(',')
            .map(|col| col.split_whitespace().next().unwrap())
            .collect();
        let mut a = json_fields.clone();
        let mut b = ddl_fields.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn signal_reads_spark_json_with_nulls_omitted() {
        let json = r#"{"id":"s|BTC/USD|2026-11-24T21:32:00.000Z","strategy":"s","symbol":"BTC/USD",
            "bar_start":"2026-11-24T21:31:00.000Z","bar_end":"2026-11-24T21:32:00.000Z",
            "open":1.0,"high":2.0,"low":0.5,"close":1.5,"volume":3.0,"trades":4,"bars":2,
            "indicators":{"sma_fast":1.25,"stoch.k":null},"action":"BUY","reasons":["sma_cross_up"]}"#;
        let s: Signal = serde_json::from_str(json).unwrap();
        assert_eq!(s.indicators.get("sma_fast"), Some(1.25));
        assert_eq!(s.indicators.get("rsi"), None);
        assert_eq!(s.action, Action::Buy);
        assert_eq!(s.id, Signal::make_id("s", "BTC/USD", s.bar_end));
        assert_eq!(s.indicators.iter().count(), 1);
        // Written back without the nulls, as Spark writes it.
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["indicators"], serde_json::json!({"sma_fast": 1.25}));
    }
}
