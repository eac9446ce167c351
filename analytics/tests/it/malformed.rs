//! Malformed input: records that are not usable trades are counted in the query's progress
//! and kept out of the bars, the query keeps running, and the good trades still make exactly
//! the reference's signals.

use std::time::{Duration, Instant};

use analytics::progress::{BatchProgress, Totals};
use analytics::{control, reference};
use chrono::{DateTime, Utc};

use crate::support;

#[test]
fn bad_records_are_counted_and_the_query_keeps_running() {
    let _serial = support::serial();
    let (trades_topic, signals_topic) = support::topics("malformed");
    let mut strategy = support::strategy(&trades_topic, &signals_topic);
    strategy.bars.lookback = 30;
    let i = &mut strategy.indicators.classic;
    (i.sma_fast, i.sma_slow, i.ema, i.rsi) = (3, 8, 5, 4);

    let t0: DateTime<Utc> = "2026-02-02T00:00:00Z".parse().unwrap();
    let good: Vec<_> = (0..40)
        .map(|b| {
            let x = b as f64;
            let close = 30_000.0 + 200.0 * (x / 5.0).sin() + 10.0 * x;
            let ts = t0 + chrono::Duration::seconds(60 * b + 30);
            support::trade("BTC/USD", b as u64 + 1, ts, close, 0.5)
        })
        .collect();
    let expected = reference::signals(&good, &strategy);
    assert!(expected.len() >= 4, "the series should fire some rules");

    let ts = |s: i64| (t0 + chrono::Duration::seconds(s)).to_rfc3339();
    let bad = [
        "not json".to_string(),
        "{}".to_string(),
        "[1,2,3]".to_string(),
        "\u{1}\u{2}binary garbage\u{7f}".to_string(),
        format!(
            r#"{{"symbol":"BTC/USD","trade_id":1,"price":"abc","qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        format!(
            r#"{{"symbol":"BTC/USD","trade_id":2,"price":-5.0,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        format!(
            r#"{{"symbol":"BTC/USD","trade_id":3,"price":NaN,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        format!(
            r#"{{"symbol":"BTC/USD","trade_id":4,"price":0.0,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        format!(
            r#"{{"symbol":"","trade_id":5,"price":10.0,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        format!(
            r#"{{"symbol":"BTC/USD","trade_id":6,"price":10.0,"qty":-1,"ts":"{}"}}"#,
            ts(90)
        ),
        r#"{"symbol":"BTC/USD","trade_id":7,"price":10.0,"qty":1}"#.to_string(),
        r#"{"symbol":"BTC/USD","trade_id":8,"price":10.0,"qty":1,"ts":"yesterday"}"#.to_string(),
        format!(
            r#"{{"symbol":"BTC/USD","price":10.0,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        // Symbols outside Kraken's notation: a newline that would forge a line in a text
        // sink, markup, lower case.
        format!(
            r#"{{"symbol":"BTC/USD\nBUY ETH/USD","trade_id":9,"price":10.0,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        format!(
            r#"{{"symbol":"<b>X</b>","trade_id":10,"price":10.0,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
        format!(
            r#"{{"symbol":"btc/usd","trade_id":11,"price":10.0,"qty":1,"ts":"{}"}}"#,
            ts(90)
        ),
    ];
    // Bad records first, between and after the good ones: none may stop the query.
    let raw: Vec<(&str, &str)> = bad.iter().map(|v| ("BTC/USD", v.as_str())).collect();
    support::produce_raw(&trades_topic, &raw[..5]);
    support::produce_trades(&trades_topic, &good[..20]);
    support::produce_raw(&trades_topic, &raw[5..]);
    support::produce_trades(&trades_topic, &good[20..]);
    let flush = support::trade("ETH/USD", 1, t0 + chrono::Duration::days(1), 1.0, 1.0);
    support::produce_trades(&trades_topic, &[flush]);

    let running = support::submit(&strategy);
    let got = support::await_signals(
        &running.spark,
        &running.name,
        &signals_topic,
        expected.len(),
        Duration::from_secs(180),
    );
    let ids = |v: &[contract::Signal]| {
        let mut ids: Vec<String> = v.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&got), ids(&expected), "signals from the good trades");
    let mut got = got;
    got.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = expected;
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    for (g, w) in got.iter().zip(&expected) {
        assert_eq!((&g.reasons, g.action), (&w.reasons, w.action), "{}", g.id);
    }

    // Every bad record is counted; every record read is counted.
    let records = bad.len() + good.len() + 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    let totals = loop {
        let q = control::find(&running.spark, &running.name)
            .unwrap()
            .expect("query still active after bad records");
        let batches: Vec<BatchProgress> = q
            .recent_progress()
            .unwrap()
            .iter()
            .map(|j| BatchProgress::parse(j).unwrap())
            .collect();
        let totals = Totals::over(&batches);
        let read: i64 = batches.iter().filter_map(|b| b.records).sum();
        if read as usize >= records || Instant::now() > deadline {
            break (totals, read);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(totals.1 as usize, records, "records counted");
    assert_eq!(
        totals.0.bad_records as usize,
        bad.len(),
        "bad records counted"
    );
    let report = control::report(
        &control::find(&running.spark, &running.name)
            .unwrap()
            .expect("query active"),
    )
    .unwrap();
    assert!(report.active && report.error.is_none(), "{report:?}");
}
