//! Kraken's public REST API, the two endpoints the gap backfill needs: `AssetPairs` (which REST
//! pair name, `XXBTZUSD`, a WebSocket v2 symbol, `BTC/USD`, has) and `Trades` (a page of
//! trades after a cursor), plus a throttled HTTP client for them.
//!
//! As [`protocol`](super::protocol) does for the WebSocket, one definition serves both ends: the
//! client parses what the [fake exchange](crate::fake_exchange) renders here, and the tests
//! also parse frames copied from Kraken's documentation, so a shared mistake cannot hide.
//!
//! Parsing is the network boundary: it never panics, and a bad trade never spoils its page
//! (it comes back as a [`BadItem`], as in a WebSocket frame).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contract::records::{Side, Trade};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::protocol::{self, Bad, BadItem, BadKind, Field, EXCHANGE};

/// Most trades Kraken returns per `Trades` request (its default and maximum).
pub const TRADES_PAGE: usize = 1000;

/// Why a REST request gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("request to {url} failed: {error}")]
    Http { url: String, error: reqwest::Error },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("Kraken answered with errors: {0}")]
    Kraken(String),
    #[error("unexpected response: {0}")]
    Shape(String),
    #[error("AssetPairs has no pair whose wsname is {0}")]
    UnknownPair(String),
}

// ---- What clients parse -------------------------------------------------------------------

/// Every REST answer: `{"error":[...],"result":...}`.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    error: Vec<String>,
    result: Option<T>,
}

fn result<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, RestError> {
    let envelope: Envelope<T> =
        serde_json::from_str(text).map_err(|e| RestError::Shape(e.to_string()))?;
    if !envelope.error.is_empty() {
        return Err(RestError::Kraken(envelope.error.join("; ")));
    }
    envelope
        .result
        .ok_or_else(|| RestError::Shape("no `result`".into()))
}

/// The WebSocket v2 name of an asset: v2 says BTC and DOGE where REST (and `wsname`, which
/// is v1's notation) says XBT and XDG.
fn v2_asset(asset: &str) -> &str {
    match asset {
        "XBT" => "BTC",
        "XDG" => "DOGE",
        other => other,
    }
}

/// The inverse of [`v2_asset`].
fn v1_asset(asset: &str) -> &str {
    match asset {
        "BTC" => "XBT",
        "DOGE" => "XDG",
        other => other,
    }
}

/// `XBT/USD` (a `wsname`) as WebSocket v2 writes it: `BTC/USD`.
fn v2_symbol(wsname: &str) -> String {
    wsname
        .split('/')
        .map(v2_asset)
        .collect::<Vec<_>>()
        .join("/")
}

/// `AssetPairs`: the REST pair name of every WebSocket v2 symbol. Where two pairs share a
/// `wsname` (dark-pool twins, `XXBTZUSD.d`), the plain one wins.
pub fn parse_asset_pairs(text: &str) -> Result<HashMap<String, String>, RestError> {
    #[derive(Deserialize)]
    struct Pair {
        wsname: Option<String>,
    }
    let pairs: HashMap<String, Pair> = result(text)?;
    let mut out: HashMap<String, String> = HashMap::new();
    for (name, pair) in pairs {
        let Some(wsname) = pair.wsname else { continue };
        let entry = out
            .entry(v2_symbol(&wsname))
            .or_insert_with(|| name.clone());
        if entry.contains('.') && !name.contains('.') {
            *entry = name;
        }
    }
    Ok(out)
}

/// One page of `Trades`.
#[derive(Debug)]
pub struct TradesPage<'a> {
    /// The trades in Kraken's order (oldest first), valid or not.
    pub trades: Vec<Result<Trade, BadItem<'a>>>,
    /// The cursor for the next page (`since`).
    pub last: String,
}

/// `Trades` for the pair whose trades are normalized to `symbol` (the v2 name).
pub fn parse_trades<'a>(
    text: &'a str,
    symbol: &str,
    recv_ts: DateTime<Utc>,
) -> Result<TradesPage<'a>, RestError> {
    let result: HashMap<String, &'a RawValue> = result(text)?;
    let mut last = None;
    let mut trades = None;
    for (key, value) in result {
        if key == "last" {
            // A string in today's API, a number in older answers.
            let raw = value.get();
            last = Some(
                serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.trim().to_string()),
            );
        } else {
            let elements: Vec<&RawValue> = serde_json::from_str(value.get())
                .map_err(|_| RestError::Shape(format!("`{key}` is not an array")))?;
            trades = Some(elements);
        }
    }
    let last = last.ok_or_else(|| RestError::Shape("no `last` cursor".into()))?;
    let trades = trades
        .unwrap_or_default()
        .into_iter()
        .map(|raw| {
            parse_trade(raw, symbol, recv_ts).map_err(|bad| BadItem {
                bad,
                raw: raw.get(),
            })
        })
        .collect();
    Ok(TradesPage { trades, last })
}

/// `[price, volume, time, "b"|"s", "m"|"l", misc, trade_id]`.
fn parse_trade(raw: &RawValue, symbol: &str, recv_ts: DateTime<Utc>) -> Result<Trade, Bad> {
    let items: Vec<&RawValue> = serde_json::from_str(raw.get())
        .map_err(|_| Bad::new(BadKind::InvalidField, "trade is not an array"))?;
    if items.len() < 7 {
        return Err(Bad::new(
            BadKind::MissingField,
            format!("trade has {} fields, not 7", items.len()),
        ));
    }
    let field = |i: usize| serde_json::from_str::<Field<'_>>(items[i].get()).ok();
    let side = match &*protocol::text(field(3), "side")? {
        "b" => Side::Buy,
        "s" => Side::Sell,
        other => {
            return Err(Bad::new(
                BadKind::InvalidField,
                format!("side `{}`", protocol::truncate(other)),
            ))
        }
    };
    let ord_type = match &*protocol::text(field(4), "ord_type")? {
        "m" => "market",
        "l" => "limit",
        other => {
            return Err(Bad::new(
                BadKind::InvalidField,
                format!("order type `{}`", protocol::truncate(other)),
            ))
        }
    };
    Ok(Trade {
        exchange: EXCHANGE.to_string(),
        symbol: symbol.to_string(),
        trade_id: protocol::trade_id(field(6))?,
        price: protocol::positive(field(0), "price")?,
        qty: protocol::positive(field(1), "volume")?,
        side,
        ord_type: ord_type.to_string(),
        ts: seconds(items[2].get())?,
        recv_ts,
    })
}

/// Seconds since the epoch as Kraken writes them (`1688669597.8277369`, also in its
/// trade-history CSV), read from the text so that no digit is lost to a float.
pub(crate) fn seconds(raw: &str) -> Result<DateTime<Utc>, Bad> {
    let text = raw.trim().trim_matches('"');
    let bad = || {
        Bad::new(
            BadKind::BadTimestamp,
            format!("time `{}`", protocol::truncate(text)),
        )
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.is_empty() && text.contains('.') || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: i64 = whole.parse().map_err(|_| bad())?;
    let digits: String = fraction
        .chars()
        .chain("000000000".chars())
        .take(9)
        .collect();
    let nanos: u32 = digits.parse().map_err(|_| bad())?;
    DateTime::from_timestamp(secs, nanos).ok_or_else(bad)
}

// ---- What the exchange sends --------------------------------------------------------------

/// The REST names of a v2 symbol: the pair name (`XXBTZUSD` for the old majors, else like
/// the altname), the altname (`XBTUSD`) and the wsname (`XBT/USD`).
pub fn rest_names(symbol: &str) -> (String, String, String) {
    let (base, quote) = symbol.split_once('/').unwrap_or((symbol, ""));
    let (base, quote) = (v1_asset(base), v1_asset(quote));
    let altname = format!("{base}{quote}");
    let wsname = format!("{base}/{quote}");
    const OLD_BASES: [&str; 6] = ["XBT", "ETH", "XRP", "LTC", "XMR", "ETC"];
    const OLD_QUOTES: [&str; 4] = ["USD", "EUR", "GBP", "JPY"];
    let name = if OLD_BASES.contains(&base) && OLD_QUOTES.contains(&quote) {
        format!("X{base}Z{quote}")
    } else {
        altname.clone()
    };
    (name, altname, wsname)
}

/// An `AssetPairs` answer listing `symbols` (the fields the backfill reads, and a few more).
pub fn asset_pairs_response(symbols: &[String]) -> String {
    let result: serde_json::Map<String, serde_json::Value> = symbols
        .iter()
        .map(|s| {
            let (name, altname, wsname) = rest_names(s);
            let pair = serde_json::json!({
                "altname": altname,
                "wsname": wsname,
                "aclass_base": "currency",
                "aclass_quote": "currency",
                "status": "online",
            });
            (name, pair)
        })
        .collect();
    serde_json::json!({"error": [], "result": result}).to_string()
}

/// A `Trades` answer: `trades` (oldest first) under the pair name, and the `last` cursor.
/// Prices and sizes are written so that they read back to the same f64, times with the
/// microseconds the WebSocket gives them.
pub fn trades_response<'t>(
    name: &str,
    trades: impl IntoIterator<Item = &'t Trade>,
    last: &str,
) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(r#"{"error":[],"result":{"#);
    out.push_str(&serde_json::Value::from(name).to_string());
    out.push_str(":[");
    for (i, t) in trades.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let side = match t.side {
            Side::Buy => "b",
            Side::Sell => "s",
        };
        let kind = if t.ord_type == "market" { "m" } else { "l" };
        let _ = write!(
            out,
            r#"["{}","{}",{}.{:06},"{side}","{kind}","",{}]"#,
            t.price,
            t.qty,
            t.ts.timestamp(),
            t.ts.timestamp_subsec_micros().min(999_999),
            t.trade_id
        );
    }
    out.push_str(r#"],"last":"#);
    out.push_str(&serde_json::Value::from(last).to_string());
    out.push_str("}}");
    out
}

/// An answer carrying only errors, as Kraken sends for a bad request.
pub fn error_response(error: &str) -> String {
    serde_json::json!({"error": [error]}).to_string()
}

/// A time as a `Trades` cursor: nanoseconds since the epoch.
pub fn cursor(ts: DateTime<Utc>) -> String {
    ts.timestamp_nanos_opt().unwrap_or(0).to_string()
}

// ---- The client ---------------------------------------------------------------------------

/// A client of the public REST API, throttled to one request per `interval` (Kraken allows
/// a public caller about one per second).
#[derive(Debug)]
pub struct RestClient {
    base: String,
    interval: Duration,
    timeout: Duration,
    /// Built at the first request, so that a client that never needs REST costs nothing.
    http: Option<reqwest::Client>,
    next_at: Instant,
    /// v2 symbol -> pair name, from `AssetPairs`, fetched once.
    pairs: Option<HashMap<String, String>>,
}

impl RestClient {
    /// `base`: the API's root URL (`https://api.kraken.com`).
    pub fn new(base: &str, interval: Duration, timeout: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            interval,
            timeout,
            http: None,
            next_at: Instant::now(),
            pairs: None,
        }
    }

    /// GETs `path_and_query`, after waiting for the throttle; the body as text.
    async fn get(&mut self, path_and_query: &str) -> Result<String, RestError> {
        let url = format!("{}{path_and_query}", self.base);
        let http = match &self.http {
            Some(h) => h.clone(),
            None => {
                let h = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .build()
                    .map_err(|error| RestError::Http {
                        url: url.clone(),
                        error,
                    })?;
                self.http = Some(h.clone());
                h
            }
        };
        tokio::time::sleep_until(self.next_at).await;
        self.next_at = Instant::now() + self.interval;
        let http_error = |error| RestError::Http {
            url: url.clone(),
            error,
        };
        let response = http.get(&url).send().await.map_err(http_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(RestError::Status {
                url,
                status: status.as_u16(),
            });
        }
        response.text().await.map_err(http_error)
    }

    /// The REST pair name of the v2 `symbol`.
    pub async fn pair_name(&mut self, symbol: &str) -> Result<String, RestError> {
        if self.pairs.is_none() {
            let text = self.get("/0/public/AssetPairs").await?;
            self.pairs = Some(parse_asset_pairs(&text)?);
        }
        self.pairs
            .as_ref()
            .and_then(|p| p.get(symbol).cloned())
            .ok_or_else(|| RestError::UnknownPair(symbol.to_string()))
    }

    /// The raw `Trades` answer for `pair` after the cursor `since`, for [`parse_trades`].
    pub async fn trades(&mut self, pair: &str, since: &str) -> Result<String, RestError> {
        self.get(&format!(
            "/0/public/Trades?pair={pair}&since={since}&count={TRADES_PAGE}"
        ))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-24T21:31:00.5Z".parse().unwrap()
    }

    /// Kraken's documented example answer of `GET /0/public/Trades` (docs.kraken.com, "Get
    /// Recent Trades"), as published.
    const KRAKEN_TRADES: &str = r#"{
        "error": [],
        "result": {
            "XXBTZUSD": [
                ["30243.40000", "0.34507674", 1688669597.8277369, "b", "m", "", 61044952],
                ["30243.30000", "0.00376960", 1688669598.2804112, "s", "l", "", 61044953],
                ["30243.30000", "0.01235716", 1688669602.698379, "s", "m", "", 61044956]
            ],
            "last": "1688671969993150842"
        }
    }"#;

    /// A real `GET /0/public/AssetPairs?pair=XXBTZUSD` answer, as captured in a public
    /// acceptance test of Kraken's API.
    const KRAKEN_ASSET_PAIRS: &str = r#"{"error": [],
     "result": {"XXBTZUSD": {"altname": "XBTUSD",
       "wsname": "XBT/USD",
       "aclass_base": "currency",
       "base": "XXBT",
       "aclass_quote": "currency",
       "quote": "ZUSD",
       "lot": "unit",
       "pair_decimals": 1,
       "lot_decimals": 8,
       "lot_multiplier": 1,
       "leverage_buy": [2, 3, 4, 5],
       "leverage_sell": [2, 3, 4, 5],
       "fees": [[0, 0.26], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18],
        [1000000, 0.16], [2500000, 0.14], [5000000, 0.12], [10000000, 0.1]],
       "fees_maker": [[0, 0.16], [50000, 0.14], [100000, 0.12], [250000, 0.1],
        [500000, 0.08], [1000000, 0.06], [2500000, 0.04], [5000000, 0.02], [10000000, 0.0]],
       "fee_volume_currency": "ZUSD",
       "margin_call": 80,
       "margin_stop": 40,
       "ordermin": "0.0001"}}}"#;

    #[test]
    fn parses_krakens_documented_trades_answer() {
        let page = parse_trades(KRAKEN_TRADES, "BTC/USD", now()).unwrap();
        assert_eq!(page.last, "1688671969993150842");
        let trades: Vec<Trade> = page.trades.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            trades.iter().map(|t| t.trade_id).collect::<Vec<_>>(),
            [61044952, 61044953, 61044956]
        );
        let t = &trades[0];
        assert_eq!((t.price, t.qty), (30243.4, 0.34507674));
        assert_eq!((t.side, t.ord_type.as_str()), (Side::Buy, "market"));
        assert_eq!(
            (t.symbol.as_str(), t.exchange.as_str()),
            ("BTC/USD", "kraken")
        );
        assert_eq!(t.ts.timestamp(), 1688669597);
        assert_eq!(t.ts.timestamp_subsec_nanos(), 827736900);
        assert_eq!(t.recv_ts, now());
        assert_eq!(
            (trades[1].side, trades[1].ord_type.as_str()),
            (Side::Sell, "limit")
        );
    }

    #[test]
    fn maps_krakens_asset_pairs_to_v2_symbols() {
        let pairs = parse_asset_pairs(KRAKEN_ASSET_PAIRS).unwrap();
        assert_eq!(pairs["BTC/USD"], "XXBTZUSD");
        assert_eq!(pairs.len(), 1);
    }

    #[test]
    fn the_plain_pair_wins_over_its_dark_pool_twin() {
        let text = r#"{"error":[],"result":{
            "XXBTZUSD.d":{"wsname":"XBT/USD"},"XXBTZUSD":{"wsname":"XBT/USD"},
            "XDGUSD":{"wsname":"XDG/USD"},"NOWS":{"altname":"NOWS"}}}"#;
        let pairs = parse_asset_pairs(text).unwrap();
        assert_eq!(pairs["BTC/USD"], "XXBTZUSD");
        assert_eq!(pairs["DOGE/USD"], "XDGUSD");
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn errors_and_bad_trades() {
        let refused = r#"{"error":["EQuery:Unknown asset pair"]}"#;
        assert!(matches!(
            parse_trades(refused, "X/Y", now()),
            Err(RestError::Kraken(e)) if e == "EQuery:Unknown asset pair"
        ));
        assert!(matches!(
            parse_trades("<html>", "X/Y", now()),
            Err(RestError::Shape(_))
        ));
        let text = r#"{"error":[],"result":{"P":[
            ["1.5","2",1700000000.25,"b","l","",7],
            ["-1","2",1700000000,"b","l","",8],
            ["1","2","soon","b","l","",9],
            ["1","2",1700000000,"x","l","",10],
            ["1","2",1700000000,"b","l",""],
            ["1","2",1700000000,"s","m","",11]],"last":1700000000000000000}}"#;
        let page = parse_trades(text, "X/Y", now()).unwrap();
        assert_eq!(page.last, "1700000000000000000");
        let kinds: Vec<Option<BadKind>> = page
            .trades
            .iter()
            .map(|t| t.as_ref().err().map(|b| b.bad.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                None,
                Some(BadKind::NotPositive),
                Some(BadKind::BadTimestamp),
                Some(BadKind::InvalidField),
                Some(BadKind::MissingField),
                None
            ]
        );
        assert_eq!(
            page.trades[0].as_ref().unwrap().ts.timestamp_millis(),
            1_700_000_000_250
        );
    }

    #[test]
    fn our_answers_read_back_exactly() {
        let symbols = vec!["BTC/USD".to_string(), "SOL/USD".to_string()];
        let pairs = parse_asset_pairs(&asset_pairs_response(&symbols)).unwrap();
        assert_eq!(pairs["BTC/USD"], "XXBTZUSD");
        assert_eq!(pairs["SOL/USD"], "SOLUSD");
        let t = Trade {
            exchange: EXCHANGE.into(),
            symbol: "BTC/USD".into(),
            trade_id: 42,
            price: 65000.123456789,
            qty: 0.000123,
            side: Side::Sell,
            ord_type: "limit".into(),
            ts: "2026-11-24T21:31:00.123456Z".parse().unwrap(),
            recv_ts: now(),
        };
        let text = trades_response("XXBTZUSD", [&t], &cursor(t.ts));
        let page = parse_trades(&text, "BTC/USD", now()).unwrap();
        assert_eq!(page.trades[0].as_ref().unwrap(), &t);
        assert_eq!(page.last, "1795555860123456000");
        assert!(matches!(
            parse_trades(&error_response("EGeneral:Too many requests"), "X/Y", now()),
            Err(RestError::Kraken(_))
        ));
    }

    #[test]
    fn seconds_keep_every_digit() {
        let t = seconds("1688669597.8277369").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 827736900);
        assert_eq!(seconds("\"12\"").unwrap().timestamp(), 12);
        for bad in ["", "1.", "1.2.3", "x", "1e9", "-.5"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
