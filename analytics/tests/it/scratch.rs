use std::time::Duration;
use analytics::{control, reference};
use analytics::strategy::Rule;
use chrono::{DateTime, Utc};
use crate::support::{self, Running};

#[test]
fn scratch_planning() {
    let _serial = support::serial();
    let (trades_topic, signals_topic) = support::topics("scratch");
    let mut strategy = support::strategy(&trades_topic, &signals_topic);
    if std::env::var("ALL_RULES").is_ok() { strategy.rules.enabled = Rule::ALL.to_vec(); }
    let t0: DateTime<Utc> = "2026-02-02T00:00:00Z".parse().unwrap();
    let good: Vec<_> = (0..150).map(|b| {
        let x = b as f64;
        let close = 30_000.0 + 200.0 * (x / 5.0).sin() + 10.0 * x;
        support::trade("BTC/USD", b as u64 + 1, t0 + chrono::Duration::seconds(60 * b + 30), close, 0.5)
    }).collect();
    let expected = reference::signals(&good, &strategy);
    support::produce_trades(&trades_topic, &good[..100]);
    let spark = support::spark();
    control::submit(&spark, &strategy).expect("submit");
    let running = Running { spark, name: strategy.query_name().to_string() };
    std::thread::sleep(Duration::from_secs(12));
    support::produce_trades(&trades_topic, &good[100..]);
    std::thread::sleep(Duration::from_secs(12));
    let q = control::find(&running.spark, &running.name).unwrap().unwrap();
    for p in q.recent_progress().unwrap() {
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        eprintln!("batch {} {}", v["batchId"], v["durationMs"]);
    }
    std::fs::write("/tmp/scratch-explain.txt", q.explain(true).unwrap()).unwrap();
    eprintln!("expected {}", expected.len());
}
