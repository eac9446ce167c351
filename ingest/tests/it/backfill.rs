//! A disconnection longer than Kraken's snapshot covers: the fake exchange keeps the client out
//! while its market trades on (far more than 50 trades per symbol), the client reconnects,
//! finds the gap in the trade ids and fills it from the REST API before the live trades, so
//! every trade is in Kafka exactly once and in trade-id order per symbol. With REST down, the
//! gap is counted and logged, and the live stream goes on.

use std::collections::BTreeMap;
use std::time::Duration;

use contract::records::Trade;
use ingest::fake_exchange::FakeExchange;
use ingest::metrics::Metrics;
use ingest::source::{SimulateSettings, Source, Speed};
use testkit::{brokers, consume_until, create_topic, rand_topic, wait_for};

use crate::support::{self, assert_exactly_once};

fn symbols() -> Vec<String> {
    vec!["BTC/USD".into(), "ETH/USD".into()]
}

/// 100 trades/s per symbol for 12 s: a 2 s disconnection misses about 200 per symbol.
async fn exchange() -> FakeExchange {
    support::fake_exchange(SimulateSettings {
        symbols: symbols(),
        rate: 200.0,
        speed: Speed::Times(1.0),
        count: Some(2400),
        ..SimulateSettings::default()
    })
    .await
}

/// Runs ingest against `exchange`, keeps it disconnected for 2 s once 600 trades are out
/// (after `before_disconnect`), and returns the metrics and the trades in the topic, in
/// partition order.
async fn run_with_a_long_disconnection(
    test: &str,
    exchange: &FakeExchange,
    before_disconnect: impl FnOnce(&FakeExchange),
) -> (Metrics, Vec<Trade>) {
    let topic = rand_topic(test);
    create_topic(&topic, 2).await;
    let running = support::start(support::settings(
        Source::Kraken(support::kraken(exchange, &symbols())),
        &brokers(),
        &topic,
    ));
    wait_for(Duration::from_secs(30), || {
        exchange.published().values().sum::<u64>() >= 600
    })
    .await
    .expect("the market did not reach 600 trades");
    before_disconnect(exchange);
    let subscriptions = exchange.subscriptions();
    exchange.disconnect_for(Duration::from_secs(2));
    wait_for(Duration::from_secs(20), || {
        exchange.subscriptions() > subscriptions
    })
    .await
    .expect("the client did not resubscribe");
    wait_for(Duration::from_secs(60), || exchange.market_closed())
        .await
        .expect("the market did not close within 60 s");
    // Every trade the client can still get, and nothing more, is in by then.
    let published: u64 = exchange.published().values().sum();
    let metrics = running.metrics.clone();
    let produced = metrics.trades_produced.clone();
    let unrecovered = metrics.unrecovered_trades.clone();
    wait_for(Duration::from_secs(30), || {
        produced.get() + unrecovered.get() >= published
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {published} trades produced", produced.get()));
    let metrics = running.stop().await;
    let total = metrics.trades_produced.get() as usize;
    let mut records =
        consume_until(&topic, Duration::from_secs(30), move |r| r.len() >= total).await;
    records.sort_by_key(|r| (r.partition, r.offset));
    (metrics, support::trades(&records))
}

/// Asserts that each symbol's trades are in the topic in ascending trade-id order.
fn assert_in_order(trades: &[Trade]) {
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for t in trades {
        let before = last.insert(&t.symbol, t.trade_id).unwrap_or(0);
        assert!(
            t.trade_id > before,
            "{}: trade {} after {before}",
            t.symbol,
            t.trade_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_longer_than_the_snapshot_is_backfilled_in_order() {
    let exchange = exchange().await;
    let (metrics, trades) = run_with_a_long_disconnection("backfill", &exchange, |_| {}).await;
    assert_exactly_once(&trades, &exchange.published());
    assert_in_order(&trades);
    assert!(metrics.gaps.get() > 0, "no gap detected");
    assert!(metrics.backfilled_trades.get() > 0, "nothing backfilled");
    assert_eq!(metrics.backfill_failures.get(), 0);
    assert_eq!(metrics.unrecovered_trades.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rest_down_the_gap_is_counted_and_the_live_stream_goes_on() {
    let exchange = exchange().await;
    let (metrics, trades) =
        run_with_a_long_disconnection("backfill-down", &exchange, |ex| ex.set_rest_down(true))
            .await;
    assert!(metrics.gaps.get() > 0, "no gap detected");
    assert!(metrics.backfill_failures.get() > 0, "no failure counted");
    assert_eq!(metrics.backfilled_trades.get(), 0);
    assert_in_order(&trades);
    // Per symbol: every id once, up to the last one published, except one run of ids (the
    // gap), and the ids missing are exactly those counted as unrecovered.
    let mut missing = 0;
    for (symbol, n) in exchange.published() {
        let ids: Vec<u64> = trades
            .iter()
            .filter(|t| t.symbol == symbol)
            .map(|t| t.trade_id)
            .collect();
        assert_eq!(ids.last(), Some(&n), "{symbol}: the live stream stopped");
        let holes = ids.windows(2).filter(|w| w[1] != w[0] + 1).count();
        assert!(holes <= 1, "{symbol}: {holes} gaps");
        missing += n - ids.len() as u64;
    }
    assert!(missing > 0);
    assert_eq!(metrics.unrecovered_trades.get(), missing);
}
