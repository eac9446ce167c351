//! Trades that would end up wrong downstream, caught at the source: a live trade stamped in
//! the future (it would move the query's watermark past every real trade), a restart's
//! snapshot repeating a quiet symbol's trades (they would count twice in a bar), and a trade
//! Kafka refuses for good with nowhere to keep it (the run must not end as if all was well).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use contract::records::{Side, Trade};
use ingest::fake_exchange::{FakeExchange, FakeExchangeSettings};
use ingest::source::kraken::protocol::BadKind;
use ingest::source::{KrakenSettings, SimulateSettings, Source, Speed};
use service::bad_input::InputKind;
use testkit::{brokers, consume_until, create_topic, rand_topic, wait_for};

use crate::support::{self, assert_exactly_once, topic_size};

/// A Kraken v2 trade element of `TEST/USD`.
fn wire_trade(id: u64, ts: chrono::DateTime<Utc>) -> String {
    format!(
        r#"{{"symbol":"TEST/USD","side":"buy","price":10.5,"qty":1,"ord_type":"limit","trade_id":{id},"timestamp":"{}"}}"#,
        ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_trade_stamped_in_the_future_is_dead_lettered() {
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: vec!["BTC/USD".into()],
        rate: 50.0,
        speed: Speed::Times(1.0),
        count: Some(100),
        ..SimulateSettings::default()
    })
    .await;
    let (topic, dead) = (rand_topic("future"), rand_topic("future-dlq"));
    create_topic(&topic, 2).await;
    create_topic(&dead, 1).await;
    let mut settings = support::settings(
        Source::Kraken(support::kraken(&exchange, &["BTC/USD".into()])),
        &brokers(),
        &topic,
    );
    settings.output.topics.dead_letter = Some(dead.clone());
    let running = support::start(settings);
    wait_for(Duration::from_secs(10), || exchange.subscriptions() > 0)
        .await
        .expect("no subscription");

    let now = Utc::now();
    // Now, two hours ago (a snapshot or a backfill delivers old trades: they pass), and three
    // hours ahead of its receipt (kept out).
    let items = [
        wire_trade(1, now),
        wire_trade(2, now - chrono::Duration::hours(2)),
        wire_trade(3, now + chrono::Duration::hours(3)),
    ];
    support::send_trades(&exchange, &items);

    let expected = support::until_market_produced(&exchange, &running, 2).await;
    let total: u64 = expected.values().sum();
    let metrics = running.stop().await;

    let kind = BadKind::ALL
        .iter()
        .copied()
        .find(|k| k.label() == "ahead_of_receive_time")
        .expect("a bad-input kind for trades stamped ahead of their receipt");
    assert_eq!(metrics.bad(kind).get(), 1);
    let records = consume_until(&topic, Duration::from_secs(30), move |r| {
        r.len() as u64 >= total
    })
    .await;
    assert_exactly_once(&support::trades(&records), &expected);
    let letters = consume_until(&dead, Duration::from_secs(30), |r| !r.is_empty()).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].key.as_deref(), Some("ahead_of_receive_time"));
    let kept: Trade = serde_json::from_str(letters[0].value.as_deref().unwrap()).unwrap();
    assert_eq!((kept.symbol.as_str(), kept.trade_id), ("TEST/USD", 3));
}

fn trade(symbol: &str, trade_id: u64, ts: chrono::DateTime<Utc>) -> Trade {
    Trade {
        exchange: "kraken".into(),
        symbol: symbol.into(),
        trade_id,
        price: 100.0 + trade_id as f64 / 100.0,
        qty: 0.5,
        side: Side::Buy,
        ord_type: "limit".into(),
        ts,
        recv_ts: ts,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_does_not_repeat_a_quiet_symbols_trades() {
    // A quiet symbol's 5 trades, then 3000 of a busy one, in one partition: the quiet symbol's
    // last trades are 3000 records back, far more than a fixed tail of 1000 per partition.
    let t0 = Utc::now();
    let at = |i: i64| t0 + chrono::Duration::milliseconds(i);
    let mut script: Vec<Trade> = (1..=5)
        .map(|id| trade("ETH/USD", id, at(id as i64)))
        .collect();
    script.extend((1..=3000).map(|id| trade("BTC/USD", id, at(10 + id as i64))));
    let total = script.len() as u64;
    let symbols = vec!["BTC/USD".to_string(), "ETH/USD".to_string()];
    let exchange = FakeExchange::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeExchangeSettings {
            market: SimulateSettings {
                symbols: symbols.clone(),
                speed: Speed::Max,
                count: Some(total),
                ..SimulateSettings::default()
            },
            script: Some(Arc::new(script)),
            ..FakeExchangeSettings::default()
        },
    )
    .await
    .expect("fake exchange");
    let topic = rand_topic("quiet");
    create_topic(&topic, 1).await;
    let config = || {
        support::settings(
            Source::Kraken(KrakenSettings {
                resume_lookback: KrakenSettings::default().resume_lookback,
                ..support::kraken(&exchange, &symbols)
            }),
            &brokers(),
            &topic,
        )
    };
    let first = support::start(config());
    let produced = first.metrics.trades_produced.clone();
    wait_for(Duration::from_secs(60), || {
        exchange.market_closed() && produced.get() >= total
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {total} produced", produced.get()));
    first.stop().await;

    // The restart's snapshot: the quiet symbol's 5 trades and the busy one's last 50.
    let second = support::start(config());
    let received = second.metrics.trades_received.clone();
    wait_for(Duration::from_secs(30), || received.get() >= 55)
        .await
        .unwrap_or_else(|_| panic!("only {} snapshot trades received", received.get()));
    let second = second.stop().await;
    assert_eq!(
        second.duplicates_skipped.get(),
        55,
        "snapshot trades skipped"
    );
    assert_eq!(second.trades_produced.get(), 0, "trades sent again");
    assert_eq!(topic_size(&brokers(), &topic), total as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_kafka_refuses_without_a_dead_letter_topic_fails_the_run() {
    // Kafka refuses record timestamps more than an hour ahead of its clock by default
    // (`log.message.timestamp.after.max.ms`), and there is no dead-letter topic to keep them.
    let topic = rand_topic("refused");
    create_topic(&topic, 1).await;
    let source = Source::Simulate(SimulateSettings {
        symbols: vec!["BTC/USD".into()],
        rate: 10.0,
        count: Some(20),
        seed: 1,
        start: Some(Utc::now() + chrono::Duration::days(2)),
        speed: Speed::Max,
    });
    let running = support::start(support::settings(source, &brokers(), &topic));
    let metrics = running.metrics.clone();
    let result = tokio::time::timeout(Duration::from_secs(60), running.task)
        .await
        .expect("the run did not end")
        .expect("the run panicked");
    let error = result.expect_err("the run succeeded although Kafka refused every trade");
    let text = error.to_string();
    assert!(
        matches!(
            error,
            ingest::Error::Output(ingest::pipeline::OutputError::Refused { .. })
        ),
        "{text}"
    );
    assert!(
        text.contains("BTC/USD") && text.contains("dead-letter"),
        "{text}"
    );
    assert!(metrics.rejected.get() >= 1);
    assert_eq!(metrics.trades_produced.get(), 0);
}
