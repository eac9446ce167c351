//! Walking skeleton: the whole stack in one test, with nothing of ours in between.
//!
//! Trades go into a fresh Kafka topic with rdkafka; a Structured Streaming query submitted over
//! Spark Connect parses them with `from_json`, counts them per symbol in 10-second event-time
//! windows and writes JSON to a second topic; the test reads that topic and checks every count.
//! It proves Kafka, the standalone cluster, the Connect server and its Kafka connector work
//! together before any product code is involved.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contract::records::TRADE_SPARK_SCHEMA;
use contract::{Side, Trade};
use spark_connect::functions::{col, expr};
use spark_connect::session::SparkSession;
use spark_connect::streaming::{StreamingQuery, Trigger};

fn spark_remote() -> String {
    std::env::var("SPARK_REMOTE").unwrap_or_else(|_| "sc://127.0.0.1:15002".to_string())
}

fn trade(symbol: &str, trade_id: u64, ts: &str) -> (String, String, i64) {
    let ts: DateTime<Utc> = ts.parse().unwrap();
    let t = Trade {
        exchange: "kraken".into(),
        symbol: symbol.into(),
        trade_id,
        price: 100.0 + trade_id as f64,
        qty: 0.5,
        side: Side::Buy,
        ord_type: "market".into(),
        ts,
        recv_ts: ts,
    };
    (t.symbol.clone(), t.to_json(), t.kafka_timestamp_ms())
}

/// Stops the query when the test ends, passed or failed, so no query outlives its test.
struct StopOnDrop(StreamingQuery);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

#[test]
fn trades_counted_per_symbol_and_window_through_kafka_and_spark() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let trades_topic = testkit::rand_topic("skeleton-trades");
    let counts_topic = testkit::rand_topic("skeleton-counts");
    rt.block_on(async {
        testkit::create_topic(&trades_topic, 3).await;
        testkit::create_topic(&counts_topic, 1).await;
    });

    let mut records = vec![
        trade("BTC/USD", 1, "2026-11-24T00:00:01.000001Z"),
        trade("BTC/USD", 2, "2026-11-24T00:00:05Z"),
        trade("BTC/USD", 3, "2026-11-24T00:00:09.999999Z"),
        trade("BTC/USD", 4, "2026-11-24T00:00:10Z"),
        trade("BTC/USD", 5, "2026-11-24T00:00:19Z"),
        trade("ETH/USD", 6, "2026-11-24T00:00:00Z"),
        trade("ETH/USD", 7, "2026-11-24T00:00:21Z"),
        trade("ETH/USD", 8, "2026-11-24T00:00:22Z"),
        trade("ETH/USD", 9, "2026-11-24T00:00:23Z"),
        trade("ETH/USD", 10, "2026-11-24T00:00:29Z"),
    ];
    // One trade far ahead moves the watermark past every window above, so append mode emits
    // them; its own window stays open and is not expected.
    records.push(trade("SOL/USD", 11, "2026-11-24T00:10:00Z"));
    // A record that is not a trade must be ignored, not crash the query.
    records.push(("BTC/USD".into(), "not json".into(), 0));
    rt.block_on(testkit::produce(&trades_topic, &records));

    let remote = spark_remote();
    let spark = SparkSession::builder()
        .remote(&remote)
        .get_or_create()
        .unwrap_or_else(|e| {
            panic!("cannot reach Spark Connect at {remote} ({e}); start the stack with `spark/stack up`")
        });
    let brokers = testkit::brokers();
    let parsed = spark
        .read_stream()
        .format("kafka")
        .option("kafka.bootstrap.servers", &brokers)
        .option("subscribe", &trades_topic)
        .option("startingOffsets", "earliest")
        .load(None)
        .select_expr(vec![&format!(
            "from_json(CAST(value AS STRING), '{TRADE_SPARK_SCHEMA}') AS t"
        )])
        .select_expr(vec!["t.symbol AS symbol", "t.ts AS ts"])
        .filter(expr("symbol IS NOT NULL AND ts IS NOT NULL"));
    let counts = parsed
        .with_watermark("ts", "1 minute")
        .group_by(vec![
            expr("window(ts, '10 seconds')").alias("w"),
            col("symbol"),
        ])
        .agg(vec![expr("count(*) AS n").expression().clone()])
        .select_expr(vec![
            "symbol AS key",
            "to_json(named_struct('symbol', symbol, 'window_start', w.start, 'n', n)) AS value",
        ]);
    let checkpoint = std::env::temp_dir().join(format!("tradesignal-tests/{counts_topic}"));
    let query_name = counts_topic.replace('-', "_");
    let query = counts
        .write_stream()
        .format("kafka")
        .option("kafka.bootstrap.servers", &brokers)
        .option("topic", &counts_topic)
        .option("checkpointLocation", checkpoint.to_str().unwrap())
        .output_mode("append")
        .query_name(&query_name)
        .trigger(Trigger::ProcessingTime("1 second".into()))
        .start("")
        .expect("start the streaming query");
    let query = StopOnDrop(query);
    assert_eq!(query.0.name(), Some(query_name.as_str()));

    let expected: BTreeSet<(String, String, u64)> = [
        ("BTC/USD", "2026-11-24T00:00:00.000Z", 3),
        ("BTC/USD", "2026-11-24T00:00:10.000Z", 2),
        ("ETH/USD", "2026-11-24T00:00:00.000Z", 1),
        ("ETH/USD", "2026-11-24T00:00:20.000Z", 4),
    ]
    .into_iter()
    .map(|(s, w, n)| (s.to_string(), w.to_string(), n))
    .collect();
    let want = expected.len();
    let out = rt.block_on(testkit::consume_until(
        &counts_topic,
        Duration::from_secs(120),
        move |r| r.len() >= want,
    ));
    let got: BTreeSet<(String, String, u64)> = out
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r.value.as_deref().unwrap()).unwrap();
            assert_eq!(r.key.as_deref(), v["symbol"].as_str(), "key is the symbol");
            (
                v["symbol"].as_str().unwrap().to_string(),
                v["window_start"].as_str().unwrap().to_string(),
                v["n"].as_u64().unwrap(),
            )
        })
        .collect();
    let progress = query.0.recent_progress().unwrap_or_default();
    assert_eq!(
        got,
        expected,
        "window counts differ; query progress: {}",
        progress.last().map(String::as_str).unwrap_or("none")
    );
    assert_eq!(out.len(), want, "each window is emitted exactly once");

    query.0.stop().expect("stop the query");
    assert!(
        !query.0.is_active().unwrap(),
        "query still active after stop"
    );
    let still_listed = spark
        .streams()
        .active()
        .unwrap()
        .iter()
        .any(|q| q.id() == query.0.id());
    assert!(!still_listed, "stopped query still listed as active");
}
