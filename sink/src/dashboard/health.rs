//! The health strip: every `health_interval`, what each piece of the pipeline says about
//! itself, turned into numbers for the strip and plain sentences for the banner.
//!
//! - Kafka: librdkafka's broker states (see [`super::kafka`]) and the age of the last bar
//!   read, against the bars' own interval.
//! - ingest, forwarder, receiver: their Prometheus endpoints (`--metrics-addr` of each), read
//!   over HTTP: trades/s from `ingest_trades_produced_total`, `ingest_reconnects_total`,
//!   `sink_lag`, `sink_received_signals_total`.
//! - Spark: the driver UI's metrics servlet (`/metrics/json/`, on by default), where each
//!   streaming query reports its last progress when `spark.sql.streaming.metricsEnabled` is
//!   on (the stack's spark-defaults.conf sets it): batch duration (`latency`), input rows/s
//!   (`inputRate-total`) and the event-time watermark, whose distance to now is the watermark
//!   delay. A query that stops disappears from there. The queries looked up are those named
//!   like the strategies on the topic (a query is named after its strategy).
//!
//! A piece without a URL is shown as not watched, never as a problem.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use service::shutdown::Shutdown;

use super::book::Book;
use super::kafka::SharedState;

/// Where to look, and when a piece counts as stale.
#[derive(Debug, Clone)]
pub struct Sources {
    pub topic: String,
    pub ingest: Option<String>,
    pub forwarder: Option<String>,
    pub receiver: Option<String>,
    pub spark_ui: Option<String>,
    pub interval: Duration,
    pub stale_after: Duration,
}

/// One piece of the pipeline in the strip.
#[derive(Debug, Serialize)]
struct Piece {
    name: &'static str,
    /// `ok`, `down`, `stale` or `off` (not watched).
    state: &'static str,
    /// Label and value, in display order; `null` when unknown.
    values: Vec<(&'static str, Option<f64>)>,
    /// What is wrong, for the banner; empty when `ok` or `off`.
    problem: String,
}

impl Piece {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            state: "ok",
            values: Vec::new(),
            problem: String::new(),
        }
    }

    fn fail(&mut self, state: &'static str, problem: String) {
        if self.problem.is_empty() {
            self.state = state;
            self.problem = problem;
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    /// When this report was made (ms since the epoch); the page marks the strip stale when
    /// reports stop coming.
    at_ms: i64,
    pieces: Vec<Piece>,
    /// Browsers connected.
    clients: usize,
}

/// Polls every source until `shutdown`, publishing each report in `book`.
pub async fn run(sources: Sources, kafka: SharedState, book: Book, mut shutdown: Shutdown) {
    let http = reqwest::Client::builder()
        .timeout(sources.interval.max(Duration::from_millis(500)))
        .build()
        .expect("HTTP client");
    let spark_metrics = sources
        .spark_ui
        .as_ref()
        .map(|u| format!("{}/metrics/json/", u.trim_end_matches('/')));
    let mut ingest_rate = Rate::default();
    let mut ticker = tokio::time::interval(sources.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            _ = ticker.tick() => {}
        }
        let (ingest, forwarder, receiver, spark) = tokio::join!(
            fetch(&http, sources.ingest.as_deref()),
            fetch(&http, sources.forwarder.as_deref()),
            fetch(&http, sources.receiver.as_deref()),
            fetch(&http, spark_metrics.as_deref()),
        );
        let kafka_piece = kafka_piece(&sources, &kafka);
        let strategies = book.strategies();
        let report = Report {
            at_ms: chrono::Utc::now().timestamp_millis(),
            pieces: vec![
                kafka_piece,
                ingest_piece(ingest, &mut ingest_rate, sources.stale_after),
                spark_piece(spark, &strategies),
                forwarder_piece(forwarder),
                receiver_piece(receiver),
            ],
            clients: book.clients(),
        };
        book.set_health(serde_json::to_string(&report).expect("a report serializes"));
    }
}

/// What a URL answered: `None` when not watched, else the body or why there is none.
type Fetched = Option<(String, Result<String, String>)>;

async fn fetch(http: &reqwest::Client, url: Option<&str>) -> Fetched {
    let url = url?;
    let body = async {
        let response = http.get(url).send().await.map_err(|e| e.to_string())?;
        let response = response.error_for_status().map_err(|e| e.to_string())?;
        response.text().await.map_err(|e| e.to_string())
    }
    .await;
    Some((url.to_string(), body.map_err(|e| without_url(&e, url))))
}

/// reqwest names the URL in its errors; the banner names it once.
fn without_url(error: &str, url: &str) -> String {
    error.replace(&format!(" for url ({url})"), "")
}

/// The sum of every series of each metric in Prometheus text, by name.
fn prometheus(text: &str) -> BTreeMap<&str, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series).trim();
        if let Ok(v) = value.trim().parse::<f64>() {
            *out.entry(name).or_insert(0.0) += v;
        }
    }
    out
}

/// A piece from a Prometheus endpoint: `down` when it does not answer.
fn scraped(name: &'static str, fetched: Fetched) -> (Piece, Option<String>) {
    let mut piece = Piece::new(name);
    match fetched {
        None => {
            piece.state = "off";
            (piece, None)
        }
        Some((_, Ok(body))) => (piece, Some(body)),
        Some((url, Err(e))) => {
            piece.fail("down", format!("{name} does not answer at {url} ({e})"));
            (piece, None)
        }
    }
}

/// A rate as people read it: one decimal.
fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A per-second rate from successive readings of a counter, and since when it stood still.
#[derive(Debug, Default)]
struct Rate {
    last: Option<(Instant, f64)>,
    moved: Option<Instant>,
}

impl Rate {
    fn update(&mut self, value: f64) -> Option<f64> {
        let now = Instant::now();
        let rate = self.last.map(|(t, v)| {
            let dt = now.duration_since(t).as_secs_f64().max(1e-3);
            ((value - v) / dt).max(0.0)
        });
        if self.last.is_none_or(|(_, v)| v != value) {
            self.moved = Some(now);
        }
        self.last = Some((now, value));
        rate
    }

    fn still_for(&self) -> Duration {
        self.moved.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

fn kafka_piece(sources: &Sources, kafka: &SharedState) -> Piece {
    let state = kafka.lock().expect("kafka state lock poisoned").clone();
    let mut piece = Piece::new("kafka");
    let age = state.last_record.map(|t| t.elapsed());
    piece.values = vec![("last bar (s ago)", age.map(|a| a.as_secs_f64().round()))];
    // Until the topic is assigned, librdkafka's statistics are not served: its error says more.
    if let Some(e) = state.error {
        piece.fail("down", e);
    }
    let fresh = 3 * sources.interval + Duration::from_secs(2);
    match state.stats {
        Some((at, 0)) if at.elapsed() < fresh => {
            piece.fail("down", format!("Kafka unreachable ({})", state.brokers));
        }
        Some((at, _)) if at.elapsed() < fresh => {}
        Some((at, _)) => piece.fail(
            "down",
            format!(
                "no word from the Kafka client for {}s",
                at.elapsed().as_secs()
            ),
        ),
        None => piece.fail("down", "connecting to Kafka".into()),
    }
    // Bars should come once per bar interval (per symbol); a few missed is stale.
    let stale_after = sources
        .stale_after
        .max(3 * state.bar_interval.unwrap_or_default());
    match age {
        None => piece.fail("stale", format!("no bars on topic {} yet", sources.topic)),
        Some(age) if age > stale_after => piece.fail(
            "stale",
            format!(
                "no new bars on topic {} for {}s",
                sources.topic,
                age.as_secs()
            ),
        ),
        Some(_) => {}
    }
    piece
}

fn ingest_piece(fetched: Fetched, rate: &mut Rate, stale_after: Duration) -> Piece {
    let (mut piece, body) = scraped("ingest", fetched);
    let (mut trades_per_s, mut reconnects) = (None, None);
    if let Some(body) = body {
        let m = prometheus(&body);
        trades_per_s = m
            .get("ingest_trades_produced_total")
            .and_then(|&v| rate.update(v));
        reconnects = m.get("ingest_reconnects_total").copied();
        if m.get("ingest_connected") == Some(&0.0) {
            piece.fail("down", "ingest is not connected to the exchange".into());
        }
        if rate.still_for() > stale_after {
            piece.fail(
                "stale",
                format!(
                    "ingest produced no trades for {}s",
                    rate.still_for().as_secs()
                ),
            );
        }
    }
    piece.values = vec![
        ("trades/s", trades_per_s.map(tenths)),
        ("reconnects", reconnects),
    ];
    piece
}

fn forwarder_piece(fetched: Fetched) -> Piece {
    let (mut piece, body) = scraped("forwarder", fetched);
    let mut lag = None;
    if let Some(body) = body {
        let m = prometheus(&body);
        lag = m.get("sink_lag").copied();
        if m.get("sink_connected") == Some(&0.0) {
            piece.fail(
                "down",
                "the forwarder is not connected to its endpoint".into(),
            );
        }
    }
    piece.values = vec![("lag", lag)];
    piece
}

fn receiver_piece(fetched: Fetched) -> Piece {
    let (mut piece, body) = scraped("receiver", fetched);
    let m = body.as_deref().map(prometheus).unwrap_or_default();
    piece.values = vec![
        ("received", m.get("sink_received_signals_total").copied()),
        ("connections", m.get("sink_connections_open").copied()),
    ];
    piece
}

/// The progress gauges of each streaming query in the driver's `/metrics/json/`, by query.
fn spark_queries(json: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    const MARK: &str = ".driver.spark.streaming.";
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return out;
    };
    let Some(gauges) = v.get("gauges").and_then(|g| g.as_object()) else {
        return out;
    };
    for (key, gauge) in gauges {
        let Some((_, rest)) = key.split_once(MARK) else {
            continue;
        };
        let Some((query, metric)) = rest.rsplit_once('.') else {
            continue;
        };
        if let Some(value) = gauge.get("value").and_then(|v| v.as_f64()) {
            out.entry(query.to_string())
                .or_default()
                .insert(metric.to_string(), value);
        }
    }
    out
}

fn spark_piece(fetched: Fetched, strategies: &BTreeSet<String>) -> Piece {
    let (mut piece, body) = scraped("spark", fetched);
    let (mut batch_ms, mut rows_per_s, mut watermark_delay_s) = (None, None, None);
    if let Some(body) = body {
        let queries = spark_queries(&body);
        // The strategies' queries; with no strategy seen yet, whatever runs.
        let watched: Vec<&String> = if strategies.is_empty() {
            queries.keys().collect()
        } else {
            strategies.iter().collect()
        };
        let missing: Vec<&str> = watched
            .iter()
            .filter(|q| !queries.contains_key(q.as_str()))
            .map(|q| q.as_str())
            .collect();
        if watched.is_empty() {
            piece.fail("down", "no streaming query runs on Spark".into());
        } else if !missing.is_empty() {
            piece.fail(
                "down",
                format!("Spark query not running: {}", missing.join(", ")),
            );
        }
        // The worst of the running queries.
        for gauges in watched.iter().filter_map(|q| queries.get(q.as_str())) {
            let max = |slot: &mut Option<f64>, v: Option<f64>| {
                if let Some(v) = v {
                    *slot = Some(slot.map_or(v, |s: f64| s.max(v)));
                }
            };
            max(&mut batch_ms, gauges.get("latency").copied());
            max(&mut rows_per_s, gauges.get("inputRate-total").copied());
            let watermark = gauges
                .get("eventTime-watermark")
                .copied()
                .filter(|&w| w > 0.0);
            max(
                &mut watermark_delay_s,
                watermark.map(|w| {
                    ((chrono::Utc::now().timestamp_millis() as f64 - w) / 1000.0).max(0.0)
                }),
            );
        }
    }
    piece.values = vec![
        ("batch ms", batch_ms),
        ("input rows/s", rows_per_s.map(tenths)),
        ("watermark delay s", watermark_delay_s.map(f64::round)),
    ];
    piece
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_sums_series_by_name() {
        let m = prometheus(
            "# HELP x\n# TYPE ingest_trades_produced_total counter\ningest_trades_produced_total 12\n\
             sink_skipped_total{kind=\"empty\"} 1\nsink_skipped_total{kind=\"not_json\"} 2\n",
        );
        assert_eq!(m["ingest_trades_produced_total"], 12.0);
        assert_eq!(m["sink_skipped_total"], 3.0);
    }

    #[test]
    fn spark_gauges_by_query_and_a_missing_query_is_a_problem() {
        let json = r#"{"gauges":{
            "app-1.driver.spark.streaming.demo.latency":{"value":840},
            "app-1.driver.spark.streaming.demo.inputRate-total":{"value":39.5},
            "app-1.driver.spark.streaming.demo.eventTime-watermark":{"value":0},
            "app-1.driver.BlockManager.memory.memUsed_MB":{"value":3}}}"#;
        let q = spark_queries(json);
        assert_eq!(q.len(), 1);
        assert_eq!(q["demo"]["latency"], 840.0);
        let fetched = || Some(("u".to_string(), Ok(json.to_string())));
        let demo = BTreeSet::from(["demo".to_string()]);
        let piece = spark_piece(fetched(), &demo);
        assert_eq!(piece.state, "ok");
        assert_eq!(piece.values[0], ("batch ms", Some(840.0)));
        assert_eq!(piece.values[2], ("watermark delay s", None));
        let other = BTreeSet::from(["trend".to_string()]);
        let piece = spark_piece(fetched(), &other);
        assert_eq!(piece.state, "down");
        assert!(piece.problem.contains("trend"), "{}", piece.problem);
    }

    #[test]
    fn a_counter_that_stands_still_is_noticed() {
        let mut rate = Rate::default();
        assert_eq!(rate.update(10.0), None);
        std::thread::sleep(Duration::from_millis(20));
        assert!(rate.update(20.0).unwrap() > 0.0);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(rate.update(20.0), Some(0.0));
        assert!(rate.still_for() >= Duration::from_millis(20));
    }
}
