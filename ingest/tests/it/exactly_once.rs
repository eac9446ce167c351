//! Reconnects neither drop nor repeat trades: the fake exchange drops the connection twice
//! (and, in the second test, goes silent), the client reconnects with the snapshot, and every
//! trade the market published is in Kafka exactly once, checked by (symbol, trade_id).

use std::time::Duration;

use ingest::fake_exchange::FakeExchange;
use ingest::metrics::Metrics;
use ingest::source::{KrakenSettings, SimulateSettings, Source, Speed};
use testkit::{brokers, consume_until, create_topic, rand_topic, wait_for};

use crate::support::{self, assert_exactly_once, topic_size};

/// The `kraken` source with the read-back of the topic on, as in production.
fn kraken(exchange: &FakeExchange, symbols: &[String], idle_timeout: Duration) -> Source {
    Source::Kraken(KrakenSettings {
        idle_timeout,
        resume_lookback: KrakenSettings::default().resume_lookback,
        ..support::kraken(exchange, symbols)
    })
}

fn symbols() -> Vec<String> {
    vec!["BTC/USD".into(), "ETH/USD".into()]
}

/// Runs ingest against `exchange`, calls `disturb` as the market progresses, then checks
/// Kafka. Returns the metrics.
async fn run_and_check(
    test: &str,
    exchange: FakeExchange,
    idle_timeout: Duration,
    disturb: impl AsyncFnOnce(&FakeExchange),
) -> Metrics {
    let topic = rand_topic(test);
    create_topic(&topic, 4).await;
    let running = support::start(support::settings(
        kraken(&exchange, &symbols(), idle_timeout),
        &brokers(),
        &topic,
    ));
    disturb(&exchange).await;
    wait_for(Duration::from_secs(60), || exchange.market_closed())
        .await
        .expect("the market did not close within 60 s");
    let expected = exchange.published();
    let total: u64 = expected.values().sum();
    let produced = running.metrics.trades_produced.clone();
    wait_for(Duration::from_secs(30), || produced.get() >= total)
        .await
        .unwrap_or_else(|_| panic!("only {} of {total} trades produced", produced.get()));
    let metrics = running.stop().await;
    let records = consume_until(&topic, Duration::from_secs(30), move |r| {
        r.len() as u64 >= total
    })
    .await;
    assert_exactly_once(&support::trades(&records), &expected);
    assert_eq!(
        topic_size(&brokers(), &topic),
        total as i64,
        "the topic holds more than the trades"
    );
    metrics
}

async fn until_published(exchange: &FakeExchange, n: u64) {
    wait_for(Duration::from_secs(30), || {
        exchange.published().values().sum::<u64>() >= n
    })
    .await
    .unwrap_or_else(|_| panic!("the market did not reach {n} trades"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dropped_connections_lose_and_repeat_nothing() {
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: symbols(),
        // 100 trades/s per symbol: a reconnect has half a second before the snapshot
        // (50 per symbol) no longer covers the gap, even on a loaded machine.
        rate: 200.0,
        speed: Speed::Times(1.0),
        count: Some(2400),
        ..SimulateSettings::default()
    })
    .await;
    let metrics = run_and_check("drops", exchange, Duration::from_secs(5), async |ex| {
        for at in [800, 1600] {
            until_published(ex, at).await;
            let subscriptions = ex.subscriptions();
            ex.drop_connections();
            wait_for(Duration::from_secs(10), || {
                ex.subscriptions() > subscriptions
            })
            .await
            .expect("the client did not resubscribe");
        }
    })
    .await;
    assert!(
        metrics.reconnects.get() >= 2,
        "reconnects {}",
        metrics.reconnects.get()
    );
    // Each resubscription's snapshot repeats trades already sent: they must have been skipped.
    assert!(
        metrics.duplicates_skipped.get() > 0,
        "no duplicates skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced_without_loss() {
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: symbols(),
        rate: 40.0,
        speed: Speed::Times(1.0),
        count: Some(300),
        ..SimulateSettings::default()
    })
    .await;
    let metrics = run_and_check("stall", exchange, Duration::from_millis(800), async |ex| {
        until_published(ex, 100).await;
        let subscriptions = ex.subscriptions();
        ex.stall(Duration::from_secs(3));
        wait_for(Duration::from_secs(10), || {
            ex.subscriptions() > subscriptions
        })
        .await
        .expect("the client did not give up on the silent connection");
    })
    .await;
    assert!(metrics.reconnects.get() >= 1);
    assert!(metrics.duplicates_skipped.get() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_ingest_does_not_repeat_what_the_last_run_sent() {
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: symbols(),
        // 20 trades/s per symbol: stopping one run and starting the next (which reads the
        // topic back first) may take 2.5 s before the snapshot stops covering the gap.
        rate: 40.0,
        speed: Speed::Times(1.0),
        count: Some(600),
        ..SimulateSettings::default()
    })
    .await;
    let topic = rand_topic("restart");
    create_topic(&topic, 4).await;
    let config = || {
        support::settings(
            kraken(&exchange, &symbols(), Duration::from_secs(5)),
            &brokers(),
            &topic,
        )
    };
    let first = support::start(config());
    until_published(&exchange, 250).await;
    let first = first.stop().await;
    let second = support::start(config());
    wait_for(Duration::from_secs(60), || exchange.market_closed())
        .await
        .expect("the market did not close");
    let expected = exchange.published();
    let total: u64 = expected.values().sum();
    let sent_before = first.trades_produced.get();
    let produced = second.metrics.trades_produced.clone();
    wait_for(Duration::from_secs(30), || {
        sent_before + produced.get() >= total
    })
    .await
    .unwrap_or_else(|_| panic!("{sent_before} + {} of {total} produced", produced.get()));
    let second = second.stop().await;
    // The second run's first snapshot repeated trades the first run had sent.
    assert!(
        second.duplicates_skipped.get() > 0,
        "nothing skipped after the restart"
    );
    let records = consume_until(&topic, Duration::from_secs(30), move |r| {
        r.len() as u64 >= total
    })
    .await;
    assert_exactly_once(&support::trades(&records), &expected);
    assert_eq!(topic_size(&brokers(), &topic), total as i64);
}
