//! Shared helpers of the integration tests: one Spark query at a time, fresh topics, a test
//! strategy, trades in and signals out, and a guard that stops a query whatever happens.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use analytics::connect::{Connection, Token};
use analytics::control;
use analytics::Strategy;
use chrono::{DateTime, Utc};
use contract::{Side, Signal, Trade};
use spark_connect::SparkSession;

/// The Connect server has two cores: queries of different tests run one after another.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a future (the Kafka helpers are async) on a small runtime of its own.
pub fn block<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// The stack's Spark Connect server, in a session of this test run only (so the tests'
/// queries are apart from anything else on the server).
pub fn connection() -> Connection {
    static SESSION: OnceLock<String> = OnceLock::new();
    Connection {
        remote: std::env::var("SPARK_REMOTE").unwrap_or_else(|_| "sc://127.0.0.1:15002".into()),
        session_id: SESSION
            .get_or_init(|| uuid::Uuid::new_v4().to_string())
            .clone(),
        token: testkit::spark_token().map(|t| Token::new(&t).expect("the stack's token")),
        ..Connection::default()
    }
}

/// A session, or a failure that says how to start the stack.
pub fn spark() -> SparkSession {
    connection().connect().unwrap_or_else(|e| panic!("{e}"))
}

/// Stops the named query when dropped, passed or failed.
pub struct Running {
    pub spark: SparkSession,
    pub name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = control::stop(&self.spark, &self.name, Duration::from_secs(5)) {
            eprintln!("could not stop query {}: {e}", self.name);
        }
    }
}

/// Submits `strategy` in a session of this test run; the query stops when the guard drops.
pub fn submit(strategy: &Strategy) -> Running {
    let spark = spark();
    control::submit(&spark, strategy).expect("submit");
    Running {
        spark,
        name: strategy.query_name().to_string(),
    }
}

/// A fresh trades topic (3 partitions) and signals topic (1 partition).
pub fn topics(test: &str) -> (String, String) {
    let trades = testkit::rand_topic(&format!("{test}-trades"));
    let signals = testkit::rand_topic(&format!("{test}-signals"));
    block(async {
        testkit::create_topic(&trades, 3).await;
        testkit::create_topic(&signals, 1).await;
    });
    (trades, signals)
}

/// A strategy reading `trades` from the start and writing `signals`, with its own name and
/// checkpoint; one-minute bars, no watermark delay.
pub fn strategy(trades: &str, signals: &str) -> Strategy {
    let mut s = Strategy {
        name: signals.replace("-signals-", "-"),
        ..Strategy::default()
    };
    s.source.brokers = testkit::brokers();
    s.source.topic = trades.into();
    s.source.starting_offsets = "earliest".into();
    s.sink.topic = signals.into();
    s.bars.interval_s = 60;
    s.bars.watermark_delay_s = 0;
    s.query.trigger_interval_ms = 500;
    s.query.checkpoint_location = std::env::temp_dir()
        .join("tradesignal-it")
        .join(&s.name)
        .to_string_lossy()
        .into_owned();
    s
}

pub fn trade(symbol: &str, trade_id: u64, ts: DateTime<Utc>, price: f64, qty: f64) -> Trade {
    Trade {
        exchange: "test".into(),
        symbol: symbol.into(),
        trade_id,
        price,
        qty,
        side: if trade_id % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        },
        ord_type: "market".into(),
        ts,
        recv_ts: ts,
    }
}

/// Produces trades keyed by symbol, Kafka timestamp = trade time.
pub fn produce_trades(topic: &str, trades: &[Trade]) {
    let records: Vec<(String, String, i64)> = trades
        .iter()
        .map(|t| (t.key().to_string(), t.to_json(), t.kafka_timestamp_ms()))
        .collect();
    block(testkit::produce(topic, &records));
}

/// Produces raw `(key, value)` records.
pub fn produce_raw(topic: &str, records: &[(&str, &str)]) {
    let records: Vec<(String, String, i64)> = records
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string(), 0))
        .collect();
    block(testkit::produce(topic, &records));
}

/// Reads the signals topic until `done` holds or `timeout` passes; every record must be a
/// `contract::Signal` keyed by its symbol.
pub fn read_signals(
    topic: &str,
    timeout: Duration,
    done: impl Fn(usize) -> bool + Send + 'static,
) -> Vec<Signal> {
    let records = block(testkit::consume_until(topic, timeout, move |r| {
        done(r.len())
    }));
    records
        .iter()
        .map(|r| {
            let value = r.value.as_deref().expect("signal value");
            let s: Signal = serde_json::from_str(value)
                .unwrap_or_else(|e| panic!("not a contract::Signal ({e}): {value}"));
            assert_eq!(
                r.key.as_deref(),
                Some(s.symbol.as_str()),
                "key is the symbol"
            );
            assert_eq!(s.id, Signal::make_id(&s.strategy, &s.symbol, s.bar_end));
            s
        })
        .collect()
}

/// Reads signals until at least `want` arrived, failing early (with Spark's error) when the
/// query `name` terminated, or after `timeout`. Returns everything read.
pub fn await_signals(
    spark: &SparkSession,
    name: &str,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<Signal> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let got = read_signals(topic, Duration::from_secs(10), move |n| n >= want);
        if got.len() >= want || std::time::Instant::now() >= deadline {
            return got;
        }
        let q = control::find(spark, name).expect("list queries");
        assert!(
            q.is_some(),
            "query {name} is not active any more; see the Connect server log"
        );
        if let Some(e) = q.and_then(|q| q.exception().ok().flatten()) {
            panic!("query {name} failed: {}", e.message);
        }
    }
}

/// The last progress JSON of a query, for failure messages.
pub fn last_progress(spark: &SparkSession, name: &str) -> String {
    control::find(spark, name)
        .ok()
        .flatten()
        .and_then(|q| q.last_progress().ok().flatten())
        .unwrap_or_else(|| "none (query not active)".into())
}

/// Polls `f` every 100 ms until it returns something or `timeout` passes. Synchronous, so
/// Spark (whose client blocks) can be called from it.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
