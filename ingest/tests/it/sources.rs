//! The offline sources into real Kafka: the simulator, and a recording of the fake exchange
//! replayed, mixed with normalized trades and bad lines.

use std::collections::BTreeMap;
use std::time::Duration;

use ingest::fake_exchange::{FakeExchange, FakeExchangeSettings};
use ingest::source::kraken::protocol::BadKind;
use ingest::source::{KrakenSettings, ReplaySettings, SimulateSettings, Source, Speed};
use testkit::{brokers, consume_until, create_topic, rand_topic, wait_for};

use crate::support::{self, assert_exactly_once};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_produces_every_trade_once_then_exits() {
    let topic = rand_topic("simulate");
    create_topic(&topic, 4).await;
    let source = Source::Simulate(SimulateSettings {
        symbols: vec!["BTC/USD".into(), "ETH/USD".into(), "XRP/USD".into()],
        rate: 1000.0,
        count: Some(5000),
        seed: 42,
        start: Some("2026-11-24T21:00:00Z".parse().unwrap()),
        speed: Speed::Max,
    });
    let running = support::start(support::settings(source, &brokers(), &topic));
    // A finite source ends the run by itself, after the flush.
    let metrics = running.metrics.clone();
    tokio::time::timeout(Duration::from_secs(60), running.task)
        .await
        .expect("simulate did not finish")
        .unwrap()
        .unwrap();
    assert_eq!(metrics.trades_produced.get(), 5000);
    let records = consume_until(&topic, Duration::from_secs(30), |r| r.len() >= 5000).await;
    let trades = support::trades(&records);
    let mut expected = BTreeMap::new();
    for t in &trades {
        *expected.entry(t.symbol.clone()).or_insert(0u64) += 1;
        assert_eq!(t.exchange, "simulator");
    }
    assert_exactly_once(&trades, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replays_to_the_same_trades() {
    // Record a session with the fake exchange.
    let exchange = FakeExchange::start(
        "127.0.0.1:0".parse().unwrap(),
        FakeExchangeSettings {
            market: SimulateSettings {
                symbols: vec!["ETH/USD".into()],
                rate: 500.0,
                speed: Speed::Times(1.0),
                count: Some(500),
                ..SimulateSettings::default()
            },
            // Rendered up front: the same trades as generating them on the fly.
            prepare: true,
            ..FakeExchangeSettings::default()
        },
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("ingest-replay-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("session.jsonl");
    let live = rand_topic("recorded");
    create_topic(&live, 2).await;
    let running = support::start(support::settings(
        Source::Kraken(KrakenSettings {
            record: Some(file.clone()),
            ..support::kraken(&exchange, &["ETH/USD".into()])
        }),
        &brokers(),
        &live,
    ));
    let produced = running.metrics.trades_produced.clone();
    wait_for(Duration::from_secs(30), || {
        exchange.market_closed() && produced.get() >= 500
    })
    .await
    .expect("the live session did not finish");
    running.stop().await;

    // Add a normalized trade, a duplicate frame and bad lines to the recording.
    let mut text = std::fs::read_to_string(&file).unwrap();
    let first_frame = text
        .lines()
        .find(|l| l.contains("\"trade_id\""))
        .unwrap()
        .to_string();
    text.push_str(&first_frame);
    text.push('\n');
    text.push_str(r#"{"exchange":"kraken","symbol":"LTC/USD","trade_id":7,"price":80.5,"qty":1.25,"side":"sell","ord_type":"market","ts":"2026-11-24T21:31:00.123456Z","recv_ts":"2026-11-24T21:31:00.2Z"}"#);
    text.push_str("\n\nnot json\n");
    text.push_str(r#"{"exchange":"kraken","symbol":"LTC/USD","trade_id":8,"price":0,"qty":1,"side":"sell","ord_type":"market","ts":"2026-11-24T21:31:00Z","recv_ts":"2026-11-24T21:31:00Z"}"#);
    text.push('\n');
    std::fs::write(&file, text).unwrap();

    let replayed = rand_topic("replayed");
    create_topic(&replayed, 2).await;
    let running = support::start(support::settings(
        Source::Replay(ReplaySettings {
            file: file.clone(),
            speed: Speed::Max,
        }),
        &brokers(),
        &replayed,
    ));
    let metrics = running.metrics.clone();
    tokio::time::timeout(Duration::from_secs(60), running.task)
        .await
        .expect("replay did not finish")
        .unwrap()
        .unwrap();
    let mut expected = exchange.published();
    expected.insert("LTC/USD".into(), 0);
    let records = consume_until(&replayed, Duration::from_secs(30), |r| r.len() >= 501).await;
    let mut trades = support::trades(&records);
    let ltc: Vec<_> = trades
        .iter()
        .filter(|t| t.symbol == "LTC/USD")
        .cloned()
        .collect();
    assert_eq!(ltc.len(), 1);
    assert_eq!((ltc[0].trade_id, ltc[0].price), (7, 80.5));
    trades.retain(|t| t.symbol != "LTC/USD");
    expected.remove("LTC/USD");
    assert_exactly_once(&trades, &expected);
    assert_eq!(metrics.bad(BadKind::NotJson).get(), 1);
    assert_eq!(metrics.bad(BadKind::NotPositive).get(), 1);
    assert!(metrics.duplicates_skipped.get() >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_kafka_refuses_go_to_the_dead_letter_topic() {
    // Kafka 4 refuses record timestamps more than an hour ahead of its clock by default
    // (`log.message.timestamp.after.max.ms`): retrying such a record can never succeed.
    let topic = rand_topic("future");
    let dead = rand_topic("future-dlq");
    create_topic(&topic, 1).await;
    create_topic(&dead, 1).await;
    let source = Source::Simulate(SimulateSettings {
        symbols: vec!["BTC/USD".into()],
        rate: 10.0,
        count: Some(20),
        seed: 1,
        start: Some(chrono::Utc::now() + chrono::Duration::days(2)),
        speed: Speed::Max,
    });
    let mut settings = support::settings(source, &brokers(), &topic);
    settings.output.topics.dead_letter = Some(dead.clone());
    let running = support::start(settings);
    let metrics = running.metrics.clone();
    tokio::time::timeout(Duration::from_secs(60), running.task)
        .await
        .expect("simulate did not finish")
        .unwrap()
        .unwrap();
    assert_eq!(metrics.rejected.get(), 20);
    assert_eq!(metrics.trades_produced.get(), 0);
    assert_eq!(metrics.dead_letters_produced.get(), 20);
    let letters = consume_until(&dead, Duration::from_secs(30), |r| r.len() >= 20).await;
    assert_eq!(letters.len(), 20);
    assert!(letters
        .iter()
        .all(|r| r.key.as_deref() == Some("rejected_by_kafka")));
    let first: contract::records::Trade =
        serde_json::from_str(letters[0].value.as_deref().unwrap()).unwrap();
    assert_eq!(first.symbol, "BTC/USD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_updates_go_to_their_own_topic() {
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: vec!["BTC/USD".into(), "ETH/USD".into()],
        rate: 50.0,
        speed: Speed::Times(1.0),
        count: Some(100),
        ..SimulateSettings::default()
    })
    .await;
    let (topic, tickers) = (rand_topic("with-ticker"), rand_topic("ticker"));
    create_topic(&topic, 2).await;
    create_topic(&tickers, 2).await;
    let mut settings = support::settings(
        Source::Kraken(support::kraken(
            &exchange,
            &["BTC/USD".into(), "ETH/USD".into()],
        )),
        &brokers(),
        &topic,
    );
    settings.output.topics.ticker = Some(tickers.clone());
    let running = support::start(settings);
    let produced = running.metrics.tickers_produced.clone();
    // A snapshot per symbol, then an update per symbol every heartbeat (1 s).
    wait_for(Duration::from_secs(20), || produced.get() >= 6)
        .await
        .expect("too few ticker updates");
    let metrics = running.stop().await;
    let n = metrics.tickers_produced.get() as usize;
    let records = consume_until(&tickers, Duration::from_secs(30), move |r| r.len() >= n).await;
    assert_eq!(records.len(), n);
    for r in &records {
        let value: serde_json::Value = serde_json::from_str(r.value.as_deref().unwrap()).unwrap();
        assert_eq!(
            r.key.as_deref(),
            value["symbol"].as_str(),
            "keyed by symbol"
        );
        assert!(value["last"].as_f64().unwrap() > 0.0);
    }
    assert!(records.iter().any(|r| r.key.as_deref() == Some("ETH/USD")));
}
