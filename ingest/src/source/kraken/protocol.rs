//! Kraken WebSocket v2 messages: parsing what the exchange sends, and writing what clients and
//! the exchange send each other.
//!
//! One definition serves both ends (the `kraken` client and the
//! [fake exchange](crate::fake_exchange)), so the fake cannot drift from what the client
//! understands.
//!
//! Parsing is the network boundary: it never panics, and a bad trade never spoils its frame.
//! Each element of a frame's `data` array is validated on its own; the valid ones come back as
//! normalized [`Trade`]s and the invalid ones as [`BadItem`]s holding their raw JSON and the
//! reason, for counting and the dead-letter topic. Prices and sizes are accepted as JSON numbers
//! (what v2 sends) or numeric strings (what recordings made by other tools often hold).

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use contract::records::{Side, Trade};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use service::bad_input::InputKind;

/// The exchange name written into every normalized trade from this protocol.
pub const EXCHANGE: &str = "kraken";

/// What was wrong with a frame or with one trade in it. The label of the `bad_input_total`
/// metric and the `reason` header of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadKind {
    /// Not JSON at all (or not UTF-8 text).
    NotJson,
    /// JSON, but not a message of the protocol (unknown channel or method, wrong shape).
    UnknownMessage,
    /// A trade without a required field (or with `null` in it).
    MissingField,
    /// A price, size or id that is not a number.
    NotNumeric,
    /// A price or size that is NaN or infinite.
    NotFinite,
    /// A price or size that is zero or negative.
    NotPositive,
    /// A trade time that is not an RFC 3339 timestamp.
    BadTimestamp,
    /// Any other field of the wrong type or value (side, order type, symbol, trade id).
    InvalidField,
    /// A live trade stamped further ahead of its receipt than the clock skew allows: it would
    /// move the query's event-time watermark past every real trade (see `Emitter`).
    AheadOfReceiveTime,
}

impl InputKind for BadKind {
    const ALL: &'static [BadKind] = &[
        BadKind::NotJson,
        BadKind::UnknownMessage,
        BadKind::MissingField,
        BadKind::NotNumeric,
        BadKind::NotFinite,
        BadKind::NotPositive,
        BadKind::BadTimestamp,
        BadKind::InvalidField,
        BadKind::AheadOfReceiveTime,
    ];

    fn label(self) -> &'static str {
        match self {
            BadKind::NotJson => "not_json",
            BadKind::UnknownMessage => "unknown_message",
            BadKind::MissingField => "missing_field",
            BadKind::NotNumeric => "not_numeric",
            BadKind::NotFinite => "not_finite",
            BadKind::NotPositive => "not_positive",
            BadKind::BadTimestamp => "bad_timestamp",
            BadKind::InvalidField => "invalid_field",
            BadKind::AheadOfReceiveTime => "ahead_of_receive_time",
        }
    }
}

impl fmt::Display for BadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a frame or a trade was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct Bad {
    pub kind: BadKind,
    pub detail: String,
}

impl Bad {
    pub fn new(kind: BadKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// One rejected element of a frame's `data`, with its raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct BadItem<'a> {
    pub bad: Bad,
    pub raw: &'a str,
}

/// One element of a `ticker` frame: passed on as received, keyed by its symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct TickerItem<'a> {
    pub symbol: String,
    /// The exchange's time of the update when it carries one.
    pub ts: Option<DateTime<Utc>>,
    pub raw: &'a str,
}

/// A parsed server message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// A `trade` snapshot (on subscribe) or update.
    Trades {
        snapshot: bool,
        trades: Vec<Result<Trade, BadItem<'a>>>,
    },
    Ticker {
        snapshot: bool,
        items: Vec<Result<TickerItem<'a>, BadItem<'a>>>,
    },
    Heartbeat,
    /// Exchange state: `online`, `maintenance`, `cancel_only`, ...
    Status {
        system: String,
    },
    /// A request (`subscribe`, `unsubscribe`, ...) succeeded.
    Ack {
        method: String,
        channel: Option<String>,
        symbol: Option<String>,
    },
    /// A request failed, e.g. an unknown symbol.
    RequestError {
        method: String,
        error: String,
        symbol: Option<String>,
    },
    Pong {
        req_id: Option<u64>,
    },
}

/// The top level of every v2 message; everything optional so the shape decides, not serde.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    success: Option<bool>,
    error: Option<String>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    symbol: Option<String>,
    req_id: Option<u64>,
}

/// Parses one text frame. `recv_ts` becomes the `recv_ts` of its trades.
pub fn parse(text: &str, recv_ts: DateTime<Utc>) -> Result<Message<'_>, Bad> {
    let env: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
        if serde_json::from_str::<IgnoredAny>(text).is_ok() {
            Bad::new(BadKind::UnknownMessage, format!("unexpected shape: {e}"))
        } else {
            Bad::new(BadKind::NotJson, e.to_string())
        }
    })?;
    if let Some(channel) = env.channel.as_deref() {
        let snapshot = env.kind.as_deref() == Some("snapshot");
        return match channel {
            "trade" => Ok(Message::Trades {
                snapshot,
                trades: elements(env.data)?
                    .into_iter()
                    .map(|raw| {
                        parse_trade(raw, recv_ts).map_err(|bad| BadItem {
                            bad,
                            raw: raw.get(),
                        })
                    })
                    .collect(),
            }),
            "ticker" => Ok(Message::Ticker {
                snapshot,
                items: elements(env.data)?
                    .into_iter()
                    .map(|raw| {
                        parse_ticker(raw).map_err(|bad| BadItem {
                            bad,
                            raw: raw.get(),
                        })
                    })
                    .collect(),
            }),
            "heartbeat" => Ok(Message::Heartbeat),
            "status" => Ok(Message::Status {
                system: status_system(env.data).unwrap_or_else(|| "unknown".into()),
            }),
            other => Err(Bad::new(
                BadKind::UnknownMessage,
                format!("unknown channel `{}`", truncate(other)),
            )),
        };
    }
    if let Some(method) = env.method.as_deref() {
        if method == "pong" {
            return Ok(Message::Pong { req_id: env.req_id });
        }
        return match env.success {
            Some(true) => {
                let result: AckResult = env
                    .result
                    .and_then(|r| serde_json::from_str(r.get()).ok())
                    .unwrap_or_default();
                Ok(Message::Ack {
                    method: method.to_string(),
                    channel: result.channel,
                    symbol: result.symbol.or(env.symbol),
                })
            }
            Some(false) => Ok(Message::RequestError {
                method: method.to_string(),
                error: env.error.unwrap_or_else(|| "no reason given".into()),
                symbol: env.symbol,
            }),
            None => Err(Bad::new(
                BadKind::UnknownMessage,
                format!("method `{}` without success flag", truncate(method)),
            )),
        };
    }
    Err(Bad::new(
        BadKind::UnknownMessage,
        "neither `channel` nor `method`",
    ))
}

pub(super) fn truncate(s: &str) -> &str {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn elements(data: Option<&RawValue>) -> Result<Vec<&RawValue>, Bad> {
    let data =
        data.ok_or_else(|| Bad::new(BadKind::UnknownMessage, "data channel without `data`"))?;
    serde_json::from_str(data.get())
        .map_err(|_| Bad::new(BadKind::UnknownMessage, "`data` is not an array"))
}

#[derive(Deserialize, Default)]
struct AckResult {
    channel: Option<String>,
    symbol: Option<String>,
}

fn status_system(data: Option<&RawValue>) -> Option<String> {
    #[derive(Deserialize)]
    struct Status {
        system: Option<String>,
    }
    let items: Vec<Status> = serde_json::from_str(data?.get()).ok()?;
    items.into_iter().next()?.system
}

/// Any JSON value, kept only as far as validation needs it. Never fails to deserialize, so
/// a wrongly typed field is reported by name instead of failing the whole element. Shared with
/// the REST API's parser (`rest`), whose trades hold the same fields in another shape.
#[derive(Debug)]
pub(super) enum Field<'a> {
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for FieldVisitor<'a> {
            type Value = Field<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<'a>, E> {
                Ok(Field::Other("a boolean"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field<'a>, E> {
                Ok(Field::U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field<'a>, E> {
                Ok(Field::I64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field<'a>, E> {
                Ok(Field::F64(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<'a>, E> {
                Ok(Field::Str(Cow::Owned(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<'a>, E> {
                Ok(Field::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other("an object"))
            }
        }
        d.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

/// A `trade` element as sent, before validation.
#[derive(Deserialize)]
struct RawTrade<'a> {
    #[serde(borrow)]
    symbol: Option<Field<'a>>,
    #[serde(borrow)]
    side: Option<Field<'a>>,
    #[serde(borrow)]
    price: Option<Field<'a>>,
    #[serde(borrow)]
    qty: Option<Field<'a>>,
    #[serde(borrow)]
    ord_type: Option<Field<'a>>,
    #[serde(borrow)]
    trade_id: Option<Field<'a>>,
    #[serde(borrow)]
    timestamp: Option<Field<'a>>,
}

fn parse_trade(raw: &RawValue, recv_ts: DateTime<Utc>) -> Result<Trade, Bad> {
    let t: RawTrade<'_> = serde_json::from_str(raw.get())
        .map_err(|e| Bad::new(BadKind::InvalidField, format!("trade element: {e}")))?;
    let side = match &*text(t.side, "side")? {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => {
            return Err(Bad::new(
                BadKind::InvalidField,
                format!("side `{}`", truncate(other)),
            ))
        }
    };
    Ok(Trade {
        exchange: EXCHANGE.to_string(),
        symbol: symbol(t.symbol)?,
        trade_id: trade_id(t.trade_id)?,
        price: positive(t.price, "price")?,
        qty: positive(t.qty, "qty")?,
        side,
        ord_type: non_empty(t.ord_type, "ord_type")?,
        ts: timestamp(t.timestamp)?,
        recv_ts,
    })
}

fn required<'a>(f: Option<Field<'a>>, name: &str) -> Result<Field<'a>, Bad> {
    match f {
        None | Some(Field::Other("null")) => {
            Err(Bad::new(BadKind::MissingField, format!("no `{name}`")))
        }
        Some(f) => Ok(f),
    }
}

/// A string field, borrowed from the input when it had no escapes.
pub(super) fn text<'a>(f: Option<Field<'a>>, name: &str) -> Result<Cow<'a, str>, Bad> {
    match required(f, name)? {
        Field::Str(s) => Ok(s),
        other => Err(Bad::new(
            BadKind::InvalidField,
            format!("`{name}` is {}", describe(&other)),
        )),
    }
}

fn non_empty(f: Option<Field<'_>>, name: &str) -> Result<String, Bad> {
    let s = text(f, name)?;
    if s.is_empty() {
        return Err(Bad::new(BadKind::InvalidField, format!("empty `{name}`")));
    }
    Ok(s.into_owned())
}

fn symbol(f: Option<Field<'_>>) -> Result<String, Bad> {
    let s = non_empty(f, "symbol")?;
    if s.len() > 64 || s.chars().any(char::is_control) {
        return Err(Bad::new(BadKind::InvalidField, "implausible `symbol`"));
    }
    Ok(s)
}

fn describe(f: &Field<'_>) -> &'static str {
    match f {
        Field::U64(_) | Field::I64(_) | Field::F64(_) => "a number",
        Field::Str(_) => "a string",
        Field::Other(what) => what,
    }
}

pub(super) fn positive(f: Option<Field<'_>>, name: &str) -> Result<f64, Bad> {
    let v = match required(f, name)? {
        Field::U64(v) => v as f64,
        Field::I64(v) => v as f64,
        Field::F64(v) => v,
        Field::Str(s) => s.trim().parse::<f64>().map_err(|_| {
            Bad::new(
                BadKind::NotNumeric,
                format!("`{name}` is `{}`", truncate(&s)),
            )
        })?,
        Field::Other(what) => {
            return Err(Bad::new(BadKind::NotNumeric, format!("`{name}` is {what}")))
        }
    };
    if !v.is_finite() {
        return Err(Bad::new(BadKind::NotFinite, format!("`{name}` is {v}")));
    }
    if v <= 0.0 {
        return Err(Bad::new(BadKind::NotPositive, format!("`{name}` is {v}")));
    }
    Ok(v)
}

pub(super) fn trade_id(f: Option<Field<'_>>) -> Result<u64, Bad> {
    match required(f, "trade_id")? {
        Field::U64(v) => Ok(v),
        Field::Str(s) => s.trim().parse::<u64>().map_err(|_| {
            Bad::new(
                BadKind::NotNumeric,
                format!("`trade_id` is `{}`", truncate(&s)),
            )
        }),
        Field::I64(v) => Err(Bad::new(
            BadKind::InvalidField,
            format!("`trade_id` is {v}"),
        )),
        Field::F64(v) => Err(Bad::new(
            BadKind::InvalidField,
            format!("`trade_id` is {v}, not an integer"),
        )),
        Field::Other(what) => Err(Bad::new(
            BadKind::NotNumeric,
            format!("`trade_id` is {what}"),
        )),
    }
}

fn timestamp(f: Option<Field<'_>>) -> Result<DateTime<Utc>, Bad> {
    let s = match required(f, "timestamp")? {
        Field::Str(s) => s,
        other => {
            return Err(Bad::new(
                BadKind::BadTimestamp,
                format!("`timestamp` is {}", describe(&other)),
            ))
        }
    };
    parse_time(&s)
}

/// RFC 3339 in any offset, normalized to UTC.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, Bad> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Bad::new(BadKind::BadTimestamp, format!("`{}`: {e}", truncate(s))))
}

#[derive(Deserialize)]
struct RawTicker<'a> {
    #[serde(borrow)]
    symbol: Option<Field<'a>>,
    #[serde(borrow)]
    timestamp: Option<Field<'a>>,
}

fn parse_ticker(raw: &RawValue) -> Result<TickerItem<'_>, Bad> {
    let t: RawTicker<'_> = serde_json::from_str(raw.get())
        .map_err(|e| Bad::new(BadKind::InvalidField, format!("ticker element: {e}")))?;
    let ts = match t.timestamp {
        None => None,
        some => Some(timestamp(some)?),
    };
    Ok(TickerItem {
        symbol: symbol(t.symbol)?,
        ts,
        raw: raw.get(),
    })
}

// ---- What clients send -------------------------------------------------------------------

/// A request from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Subscribe {
        channel: String,
        symbols: Vec<String>,
        snapshot: bool,
        req_id: Option<u64>,
    },
    Unsubscribe {
        channel: String,
        symbols: Vec<String>,
        req_id: Option<u64>,
    },
    Ping {
        req_id: Option<u64>,
    },
    /// Anything else, answered with an error.
    Other {
        method: String,
        req_id: Option<u64>,
    },
}

#[derive(Serialize, Deserialize)]
struct RequestWire {
    method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    params: Option<ParamsWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    req_id: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct ParamsWire {
    channel: String,
    #[serde(default)]
    symbol: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snapshot: Option<bool>,
}

impl Request {
    /// The JSON text of this request.
    pub fn to_json(&self) -> String {
        let wire = match self {
            Request::Subscribe {
                channel,
                symbols,
                snapshot,
                req_id,
            } => RequestWire {
                method: "subscribe".into(),
                params: Some(ParamsWire {
                    channel: channel.clone(),
                    symbol: symbols.clone(),
                    snapshot: Some(*snapshot),
                }),
                req_id: *req_id,
            },
            Request::Unsubscribe {
                channel,
                symbols,
                req_id,
            } => RequestWire {
                method: "unsubscribe".into(),
                params: Some(ParamsWire {
                    channel: channel.clone(),
                    symbol: symbols.clone(),
                    snapshot: None,
                }),
                req_id: *req_id,
            },
            Request::Ping { req_id } => RequestWire {
                method: "ping".into(),
                params: None,
                req_id: *req_id,
            },
            Request::Other { method, req_id } => RequestWire {
                method: method.clone(),
                params: None,
                req_id: *req_id,
            },
        };
        serde_json::to_string(&wire).expect("requests always serialize")
    }

    /// Parses a client request (the exchange side).
    pub fn parse(text: &str) -> Result<Request, Bad> {
        let wire: RequestWire = serde_json::from_str(text)
            .map_err(|e| Bad::new(BadKind::UnknownMessage, e.to_string()))?;
        let req_id = wire.req_id;
        Ok(match (wire.method.as_str(), wire.params) {
            ("subscribe", Some(p)) => Request::Subscribe {
                channel: p.channel,
                symbols: p.symbol,
                // Kraken's default for trade and ticker subscriptions.
                snapshot: p.snapshot.unwrap_or(true),
                req_id,
            },
            ("unsubscribe", Some(p)) => Request::Unsubscribe {
                channel: p.channel,
                symbols: p.symbol,
                req_id,
            },
            ("ping", _) => Request::Ping { req_id },
            (_, _) => Request::Other {
                method: wire.method,
                req_id,
            },
        })
    }
}

// ---- What the exchange sends --------------------------------------------------------------

/// A trade as Kraken v2 sends it.
#[derive(Serialize)]
struct WireTrade<'a> {
    symbol: &'a str,
    side: Side,
    price: f64,
    qty: f64,
    ord_type: &'a str,
    trade_id: u64,
    timestamp: Micros,
}

/// RFC 3339 in UTC with six fractional digits, written without an intermediate string: the
/// fake exchange formats one per trade, and benchmarks should measure the client, not this.
struct Micros(DateTime<Utc>);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_micros().min(999_999)
        )
    }
}

impl Serialize for Micros {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn snapshot_or_update(snapshot: bool) -> &'static str {
    if snapshot {
        "snapshot"
    } else {
        "update"
    }
}

/// One trade as an element of a `trade` frame's `data` (the exchange side). Rendered once
/// per trade, however many connections and snapshots carry it.
pub fn wire_trade(t: &Trade) -> String {
    serde_json::to_string(&WireTrade {
        symbol: &t.symbol,
        side: t.side,
        price: t.price,
        qty: t.qty,
        ord_type: &t.ord_type,
        trade_id: t.trade_id,
        timestamp: Micros(t.ts),
    })
    .expect("trades always serialize")
}

/// A `trade` frame whose `data` holds `elements` rendered by [`wire_trade`].
pub fn trade_frame<'w>(snapshot: bool, elements: impl IntoIterator<Item = &'w str>) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str(r#"{"channel":"trade","type":""#);
    out.push_str(snapshot_or_update(snapshot));
    out.push_str(r#"","data":["#);
    for (i, element) in elements.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(element);
    }
    out.push_str("]}");
    out
}

/// A `ticker` frame for one symbol with its last price (the exchange side).
pub fn ticker_frame(snapshot: bool, symbol: &str, last: f64, ts: DateTime<Utc>) -> String {
    serde_json::json!({
        "channel": "ticker",
        "type": snapshot_or_update(snapshot),
        "data": [{
            "symbol": symbol,
            "bid": last * 0.9999, "bid_qty": 1.0,
            "ask": last * 1.0001, "ask_qty": 1.0,
            "last": last,
            "timestamp": ts.to_rfc3339_opts(SecondsFormat::Micros, true),
        }],
    })
    .to_string()
}

pub fn heartbeat_frame() -> String {
    r#"{"channel":"heartbeat"}"#.to_string()
}

pub fn status_frame(system: &str) -> String {
    serde_json::json!({
        "channel": "status",
        "type": "update",
        "data": [{"api_version": "v2", "system": system, "version": "2.0.0"}],
    })
    .to_string()
}

/// The acknowledgement of a request for one symbol (`symbol` None for ping-like requests).
pub fn ack_frame(method: &str, channel: &str, symbol: &str, req_id: Option<u64>) -> String {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    serde_json::json!({
        "method": method,
        "req_id": req_id,
        "result": {"channel": channel, "symbol": symbol},
        "success": true,
        "time_in": now,
        "time_out": now,
    })
    .to_string()
}

pub fn error_frame(method: &str, error: &str, symbol: Option<&str>, req_id: Option<u64>) -> String {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    serde_json::json!({
        "method": method,
        "req_id": req_id,
        "error": error,
        "symbol": symbol,
        "success": false,
        "time_in": now,
        "time_out": now,
    })
    .to_string()
}

pub fn pong_frame(req_id: Option<u64>) -> String {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    serde_json::json!({"method": "pong", "req_id": req_id, "time_in": now, "time_out": now})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-24T21:31:00.5Z".parse().unwrap()
    }

    const GOOD: &str = r#"{"symbol":"BTC/USD","side":"buy","price":65000.1,"qty":0.01,"ord_type":"market","trade_id":123,"timestamp":"2026-11-24T21:31:00.123456Z"}"#;

    fn trades(frame: &str) -> Vec<Result<Trade, BadItem<'_>>> {
        match parse(frame, now()).unwrap() {
            Message::Trades { trades, .. } => trades,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_a_kraken_trade_frame() {
        let frame = format!(r#"{{"channel":"trade","type":"update","data":[{GOOD}]}}"#);
        let t = trades(&frame).remove(0).unwrap();
        assert_eq!(t.symbol, "BTC/USD");
        assert_eq!(t.trade_id, 123);
        assert_eq!(t.price, 65000.1);
        assert_eq!(t.side, Side::Buy);
        assert_eq!(
            t.ts.to_rfc3339_opts(SecondsFormat::Micros, true),
            "2026-11-24T21:31:00.123456Z"
        );
        assert_eq!(t.recv_ts, now());
        assert_eq!(t.exchange, "kraken");
    }

    #[test]
    fn micros_format_like_chrono() {
        for ts in [
            "2026-11-24T21:31:00.123456Z",
            "2026-01-02T03:04:05Z",
            "0999-12-31T23:59:59.000001Z",
        ] {
            let t: DateTime<Utc> = ts.parse().unwrap();
            assert_eq!(
                Micros(t).to_string(),
                t.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
    }

    #[test]
    fn our_trade_frames_round_trip() {
        let frame = format!(r#"{{"channel":"trade","type":"snapshot","data":[{GOOD}]}}"#);
        let t = trades(&frame).remove(0).unwrap();
        let again = trade_frame(true, [wire_trade(&t).as_str()]);
        match parse(&again, now()).unwrap() {
            Message::Trades { snapshot, trades } => {
                assert!(snapshot);
                assert_eq!(trades[0].as_ref().unwrap(), &t);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_reported_and_the_good_trades_survive() {
        let cases = [
            (
                r#"{"side":"buy","price":1,"qty":1,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::MissingField,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":null,"qty":1,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::MissingField,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":"abc","qty":1,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::NotNumeric,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":true,"qty":1,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::NotNumeric,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":"NaN","qty":1,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::NotFinite,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":1,"qty":"inf","ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::NotFinite,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":-1,"qty":1,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::NotPositive,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":1,"qty":0,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::NotPositive,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":1,"qty":1,"ord_type":"m","trade_id":1,"timestamp":"yesterday"}"#,
                BadKind::BadTimestamp,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":1,"qty":1,"ord_type":"m","trade_id":1,"timestamp":17}"#,
                BadKind::BadTimestamp,
            ),
            (
                r#"{"symbol":"X/Y","side":"up","price":1,"qty":1,"ord_type":"m","trade_id":1,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::InvalidField,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":1,"qty":1,"ord_type":"m","trade_id":-4,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::InvalidField,
            ),
            (
                r#"{"symbol":"X/Y","side":"buy","price":1,"qty":1,"ord_type":"m","trade_id":1.5,"timestamp":"2026-11-24T21:31:00Z"}"#,
                BadKind::InvalidField,
            ),
            (r#"[1,2]"#, BadKind::InvalidField),
            (r#"{"symbol":"X/Y","symbol":"X/Y"}"#, BadKind::InvalidField),
        ];
        for (bad, kind) in cases {
            let frame =
                format!(r#"{{"channel":"trade","type":"update","data":[{GOOD},{bad},{GOOD}]}}"#);
            let parsed = trades(&frame);
            assert_eq!(parsed.len(), 3, "{bad}");
            assert!(parsed[0].is_ok() && parsed[2].is_ok(), "{bad}");
            let item = parsed[1].as_ref().unwrap_err();
            assert_eq!(item.bad.kind, kind, "{bad}: {}", item.bad);
            assert_eq!(item.raw, bad);
        }
    }

    #[test]
    fn numeric_strings_are_accepted() {
        let el = r#"{"symbol":"X/Y","side":"sell","price":"1.5","qty":" 2 ","ord_type":"limit","trade_id":"7","timestamp":"2026-11-24T22:31:00+01:00"}"#;
        let frame = format!(r#"{{"channel":"trade","type":"update","data":[{el}]}}"#);
        let t = trades(&frame).remove(0).unwrap();
        assert_eq!((t.price, t.qty, t.trade_id), (1.5, 2.0, 7));
        assert_eq!(
            t.ts,
            "2026-11-24T21:31:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn frame_level_errors() {
        let kind = |s: &str| parse(s, now()).unwrap_err().kind;
        assert_eq!(kind("not json"), BadKind::NotJson);
        assert_eq!(
            kind(r#"{"channel":"trade","data":[{"price":NaN}]}"#),
            BadKind::NotJson
        );
        assert_eq!(kind(""), BadKind::NotJson);
        assert_eq!(kind("[1,2,3]"), BadKind::UnknownMessage);
        assert_eq!(kind(r#"{"channel":7}"#), BadKind::UnknownMessage);
        assert_eq!(
            kind(r#"{"channel":"book","data":[]}"#),
            BadKind::UnknownMessage
        );
        assert_eq!(
            kind(r#"{"channel":"trade","data":{}}"#),
            BadKind::UnknownMessage
        );
        assert_eq!(kind(r#"{"channel":"trade"}"#), BadKind::UnknownMessage);
        assert_eq!(kind(r#"{"hello":"world"}"#), BadKind::UnknownMessage);
        assert_eq!(kind(r#"{"method":"subscribe"}"#), BadKind::UnknownMessage);
    }

    #[test]
    fn control_messages() {
        assert_eq!(
            parse(&heartbeat_frame(), now()).unwrap(),
            Message::Heartbeat
        );
        assert_eq!(
            parse(&status_frame("online"), now()).unwrap(),
            Message::Status {
                system: "online".into()
            }
        );
        assert_eq!(
            parse(&ack_frame("subscribe", "trade", "BTC/USD", Some(3)), now()).unwrap(),
            Message::Ack {
                method: "subscribe".into(),
                channel: Some("trade".into()),
                symbol: Some("BTC/USD".into())
            }
        );
        assert_eq!(
            parse(
                &error_frame(
                    "subscribe",
                    "Currency pair not supported",
                    Some("NO/PE"),
                    Some(3)
                ),
                now()
            )
            .unwrap(),
            Message::RequestError {
                method: "subscribe".into(),
                error: "Currency pair not supported".into(),
                symbol: Some("NO/PE".into())
            }
        );
        assert_eq!(
            parse(&pong_frame(Some(9)), now()).unwrap(),
            Message::Pong { req_id: Some(9) }
        );
        // A real Kraken acknowledgement.
        let real = r#"{"method":"subscribe","result":{"channel":"trade","snapshot":true,"symbol":"MATIC/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}"#;
        assert!(
            matches!(parse(real, now()).unwrap(), Message::Ack { symbol: Some(s), .. } if s == "MATIC/USD")
        );
    }

    #[test]
    fn ticker_items_keep_their_raw_json() {
        let frame = ticker_frame(true, "BTC/USD", 100.0, now());
        match parse(&frame, now()).unwrap() {
            Message::Ticker { snapshot, items } => {
                assert!(snapshot);
                let item = items[0].as_ref().unwrap();
                assert_eq!(item.symbol, "BTC/USD");
                assert_eq!(item.ts, Some(now()));
                assert!(item.raw.contains("\"last\":100.0"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests_round_trip() {
        let sub = Request::Subscribe {
            channel: "trade".into(),
            symbols: vec!["BTC/USD".into(), "ETH/USD".into()],
            snapshot: true,
            req_id: Some(1),
        };
        assert_eq!(
            sub.to_json(),
            r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"],"snapshot":true},"req_id":1}"#
        );
        assert_eq!(Request::parse(&sub.to_json()).unwrap(), sub);
        let ping = Request::Ping { req_id: Some(5) };
        assert_eq!(Request::parse(&ping.to_json()).unwrap(), ping);
        assert!(Request::parse("nope").is_err());
    }
}
