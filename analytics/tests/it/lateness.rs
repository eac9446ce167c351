//! `lateness` on the real cluster: designed arrival orders, the same counts from the Kafka
//! topic, our JSON lines and Parquet; a malformed record is skipped.

use analytics::backtest::{FileFormat, Input};
use analytics::lateness::{self, Lateness};
use chrono::{DateTime, Duration, Utc};

use crate::support;

/// (symbol, trade id, trade time, receive time) in ms after t0, listed in arrival order,
/// with how far each is behind the newest trade time received before it.
const TRADES: [(&str, u64, i64, i64, f64); 8] = [
    ("A/USD", 1, 0, 10, 0.0),
    ("B/USD", 2, 1000, 1010, 0.0),
    ("A/USD", 3, 800, 1020, 200.0),
    ("B/USD", 4, 2000, 2010, 0.0),
    ("A/USD", 5, 500, 2020, 1500.0),
    ("A/USD", 6, 2100, 2100, 0.0),
    ("B/USD", 7, 2050, 2200, 50.0),
    ("A/USD", 8, 2100, 2300, 0.0),
];

const DELAYS: [u64; 5] = [0, 100, 250, 1000, 2000];

fn t0() -> DateTime<Utc> {
    "2026-11-02T10:00:00Z".parse().unwrap()
}

fn check(what: &str, m: &Lateness) {
    let behind: Vec<f64> = TRADES.iter().map(|t| t.4).collect();
    let want: Vec<(u64, u64)> = DELAYS
        .iter()
        .map(|&d| (d, behind.iter().filter(|&&b| b > d as f64).count() as u64))
        .collect();
    assert_eq!(m.trades, TRADES.len() as u64, "{what}: {m:?}");
    assert_eq!(m.late, want, "{what}");
    assert_eq!(m.max_ms, 1500.0, "{what}");
    assert_eq!(m.p50_ms, 0.0, "{what}");
    // Three of eight trades late at 0 ms, one still at 1 s, none at 2 s.
    assert_eq!(m.smallest_delay(0.0001), Some(2000), "{what}");
    assert_eq!(m.smallest_delay(0.2), Some(250), "{what}");
}

#[test]
fn late_trades_per_delay_from_kafka_json_lines_and_parquet() {
    let _serial = support::serial();
    let (topic, signals) = support::topics("lateness");
    let strategy = support::strategy(&topic, &signals);
    let ms = |n: i64| t0() + Duration::milliseconds(n);
    let trades: Vec<contract::Trade> = TRADES
        .iter()
        .map(|&(symbol, id, ts, recv, _)| contract::Trade {
            recv_ts: ms(recv),
            ..support::trade(symbol, id, ms(ts), 100.0, 1.0)
        })
        .collect();
    // Produced out of arrival order: arrival is the receive time, not the topic's order.
    let mut shuffled = trades.clone();
    shuffled.reverse();
    support::produce_trades(&topic, &shuffled);
    support::produce_raw(&topic, &[("A/USD", "not a trade")]);

    let spark = support::spark();
    let measured = |input: &Input| {
        lateness::run(&spark, &strategy, input, None, None, &DELAYS).expect("lateness")
    };
    check("kafka", &measured(&Input::Kafka { topic: None }));

    let dir = std::env::temp_dir().join("tradesignal-it").join(&topic);
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join("trades.jsonl");
    let lines: Vec<String> = trades.iter().map(|t| t.to_json()).collect();
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();
    check(
        "json lines",
        &measured(&Input::File {
            path: jsonl.clone(),
            format: FileFormat::JsonLines,
        }),
    );
    let (code, out) = crate::cli::cli(&[
        "lateness",
        "--input",
        jsonl.to_str().unwrap(),
        "--delays-ms",
        "0,250,2000",
        "--max-late-share",
        "0.2",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("8 trades;"), "{out}");
    assert!(out.contains("max 1500 ms"), "{out}");
    assert!(out.contains("bars.watermark_delay_ms = 250"), "{out}");
    let parquet = dir.join("trades.parquet");
    analytics::backtest::input::jsonl_as_parquet(&spark, &jsonl, &parquet).expect("parquet");
    check(
        "parquet",
        &measured(&Input::File {
            path: parquet,
            format: FileFormat::Parquet,
        }),
    );

    let csv = lateness::run(
        &spark,
        &strategy,
        &Input::File {
            path: dir.join("trades.csv"),
            format: FileFormat::KrakenCsv {
                symbol: "A/USD".into(),
            },
        },
        None,
        None,
        &DELAYS,
    )
    .unwrap_err()
    .to_string();
    assert!(csv.contains("no receive times"), "{csv}");
}
