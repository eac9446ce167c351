//! Input that would silently skew the bars: a trade stamped hours in the future (it would move
//! the shared watermark, and every real trade after it would be dropped as late) and the same
//! trade twice (it would count twice in its bar's volume and trade count). Either way the query
//! must emit exactly the bars and signals of the clean topic, and count the future trade.
//!
//! The trades are read a few records per micro-batch, so the future trade and the repeats land
//! in batches of their own, between the ones of the clean trades.

use std::time::{Duration, Instant};

use analytics::progress::BatchProgress;
use analytics::{control, reference, Strategy};
use chrono::{DateTime, Utc};
use contract::{Signal, Trade};

use crate::support;

fn t0() -> DateTime<Utc> {
    "2026-03-02T00:00:00Z".parse().unwrap()
}

/// 40 one-minute bars of `symbol`, two trades each, ids from 1, in time order.
fn clean(symbol: &str) -> Vec<Trade> {
    (0..40i64)
        .flat_map(|b| {
            let x = b as f64;
            let close = 30_000.0 + 200.0 * (x / 5.0).sin() + 10.0 * x;
            let start = t0() + chrono::Duration::seconds(60 * b);
            [(10, close * 0.999, 0.25), (40, close, 0.5 + 0.01 * x)]
                .into_iter()
                .enumerate()
                .map(move |(j, (s, price, qty))| {
                    let ts = start + chrono::Duration::seconds(s);
                    support::trade(symbol, 2 * b as u64 + j as u64 + 1, ts, price, qty)
                })
        })
        .collect()
}

/// A strategy emitting every bar (so every bar's volume and trade count is compared), reading
/// at most 10 records per micro-batch.
fn strategy(test: &str) -> (Strategy, String, String) {
    let (trades, signals) = support::topics(test);
    let mut s = support::strategy(&trades, &signals);
    s.bars.lookback = 30;
    s.rules.every_bar = true;
    s.source.max_offsets_per_trigger = 10;
    let i = &mut s.indicators.classic;
    (i.sma_fast, i.sma_slow, i.ema, i.rsi) = (3, 8, 5, 4);
    (s, trades, signals)
}

/// Runs `strategy` over what is on its topic and asserts that it emits exactly `expected`:
/// the same bars (OHLC, volume, trade count) and the same rules. Returns the progress of every
/// batch Spark retains, once the query has read `records` records.
fn assert_emits(
    strategy: &Strategy,
    signals_topic: &str,
    expected: &[Signal],
    records: i64,
) -> Vec<BatchProgress> {
    let running = support::submit(strategy);
    let got = support::await_signals(
        &running.spark,
        &running.name,
        signals_topic,
        expected.len(),
        Duration::from_secs(150),
    );
    let progress = support::last_progress(&running.spark, &running.name);
    let key = |s: &Signal| {
        (
            s.id.clone(),
            s.trades,
            format!("{:.9}", s.volume),
            // The JVM may print a price one ulp away from the reference's.
            format!("{:.6} {:.6} {:.6} {:.6}", s.open, s.high, s.low, s.close),
            s.reasons.clone(),
            format!("{:?}", s.action),
        )
    };
    let mut got: Vec<_> = got.iter().map(key).collect();
    let mut want: Vec<_> = expected.iter().map(key).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want, "bars and signals; last progress: {progress}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let batches: Vec<BatchProgress> = control::find(&running.spark, &running.name)
            .unwrap()
            .expect("query active")
            .recent_progress()
            .unwrap()
            .iter()
            .map(|j| BatchProgress::parse(j).unwrap())
            .collect();
        let read: i64 = batches.iter().filter_map(|b| b.records).sum();
        if read >= records || Instant::now() > deadline {
            assert_eq!(read, records, "records read");
            return batches;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A trade far ahead on the same symbol, produced last: it moves the watermark past every bar.
fn flush(symbol: &str) -> Trade {
    support::trade(
        symbol,
        1_000_000,
        t0() + chrono::Duration::days(1),
        1.0,
        1.0,
    )
}

#[test]
fn a_trade_from_the_future_is_kept_out_and_counted() {
    let _serial = support::serial();
    let (strategy, trades_topic, signals_topic) = strategy("future");
    let good = clean("BTC/USD");
    let expected = reference::signals(&good, &strategy);
    assert_eq!(expected.len(), 40);

    // Received now and stamped three hours ahead, in the middle of the real trades. Its Kafka
    // timestamp is the time it was produced: Kafka refuses record timestamps more than an hour
    // ahead (`log.message.timestamp.after.max.ms`), the trade's own time is what counts.
    let mut future = support::trade(
        "BTC/USD",
        500_000,
        Utc::now() + chrono::Duration::hours(3),
        31_000.0,
        2.0,
    );
    future.recv_ts = Utc::now();
    let future = future.to_json();
    support::produce_trades(&trades_topic, &good[..40]);
    support::produce_raw(&trades_topic, &[("BTC/USD", &future)]);
    support::produce_trades(&trades_topic, &good[40..]);
    support::produce_trades(&trades_topic, &[flush("BTC/USD")]);

    let batches = assert_emits(&strategy, &signals_topic, &expected, good.len() as i64 + 2);
    let ahead: i64 = batches.iter().filter_map(|b| b.ahead_records).sum();
    assert_eq!(ahead, 1, "trades kept out as too far ahead");
}

#[test]
fn a_trade_twice_counts_once() {
    let _serial = support::serial();
    let (mut strategy, trades_topic, signals_topic) = strategy("duplicates");
    // Repeats come within the watermark delay of the newest trade, as a reconnect snapshot's
    // do.
    strategy.bars.watermark_delay_s = 600;
    // Two symbols with the same trade ids: only (symbol, trade_id) makes a trade the same.
    let symbols = ["BTC/USD", "ETH/USD"];
    let good: Vec<Vec<Trade>> = symbols.iter().map(|s| clean(s)).collect();
    let expected = reference::signals(&good.concat(), &strategy);
    assert_eq!(expected.len(), 80);

    let with_repeats = |trades: &[Trade]| {
        let mut topic = Vec::new();
        for (i, t) in trades.iter().enumerate() {
            topic.push(t.clone());
            // Every 7th trade at once again (usually in the same micro-batch).
            if i % 7 == 3 {
                topic.push(t.clone());
            }
            // The last 12 trades again, as a re-sent snapshot (later micro-batches).
            if i == 49 {
                topic.extend_from_slice(&trades[38..50]);
            }
        }
        topic
    };
    let (btc, eth) = (with_repeats(&good[0]), with_repeats(&good[1]));
    // Interleaved, so the two symbols' event times advance together whichever partitions
    // they land in; the flushes last.
    let mut topic: Vec<Trade> = btc.into_iter().zip(eth).flat_map(|(a, b)| [a, b]).collect();
    topic.extend(symbols.map(flush));
    let records = topic.len() as i64;
    support::produce_trades(&trades_topic, &topic);
    assert_emits(&strategy, &signals_topic, &expected, records);
}
