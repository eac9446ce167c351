//! Bad input is counted (by kind), dead-lettered with its reason, and never costs the valid
//! trades around it: neither those of the market nor those in the same frame. A refused
//! subscription is counted too.

use std::collections::BTreeMap;
use std::time::Duration;

use ingest::source::kraken::protocol::BadKind;
use ingest::source::{SimulateSettings, Source, Speed};
use service::bad_input::InputKind;
use testkit::{brokers, consume_until, create_topic, rand_topic, wait_for};

use crate::support::{self, assert_exactly_once};

const TS: &str = "2026-11-24T21:31:00.123456Z";

fn trade(id: u64, price: &str, qty: &str, ts: &str) -> String {
    format!(
        r#"{{"symbol":"TEST/USD","side":"buy","price":{price},"qty":{qty},"ord_type":"limit","trade_id":{id},"timestamp":{ts}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_is_counted_and_the_valid_trades_arrive() {
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: vec!["BTC/USD".into()],
        rate: 100.0,
        speed: Speed::Times(1.0),
        count: Some(300),
        ..SimulateSettings::default()
    })
    .await;
    let topic = rand_topic("bad");
    let dead = rand_topic("bad-dlq");
    create_topic(&topic, 2).await;
    create_topic(&dead, 1).await;
    let mut settings = support::settings(
        // The exchange refuses the second symbol: counted, and the first still works.
        Source::Kraken(support::kraken(
            &exchange,
            &["BTC/USD".into(), "NOPE/USD".into()],
        )),
        &brokers(),
        &topic,
    );
    settings.output.topics.dead_letter = Some(dead.clone());
    let running = support::start(settings);
    wait_for(Duration::from_secs(10), || exchange.subscriptions() > 0)
        .await
        .expect("no subscription");

    let q = |s: &str| format!("\"{s}\"");
    let items = [
        trade(1, "10.5", "1", &q(TS)),
        // missing_field: no price
        r#"{"symbol":"TEST/USD","side":"buy","qty":1,"ord_type":"limit","trade_id":90,"timestamp":"2026-11-24T21:31:00Z"}"#.to_string(),
        trade(91, &q("ten"), "1", &q(TS)),  // not_numeric
        trade(92, &q("NaN"), "1", &q(TS)),  // not_finite
        trade(93, "-1", "1", &q(TS)),       // not_positive
        trade(2, "10.6", "2", &q(TS)),
        trade(94, "10", "0", &q(TS)),       // not_positive
        trade(95, "10", "1", &q("noon")),   // bad_timestamp
        trade(3, "10.7", "3", &q(TS)),
    ];
    exchange.send_raw("this is not json {");
    exchange.send_raw(r#"{"channel":"book","type":"update","data":[]}"#);
    support::send_trades(&exchange, &items);

    let expected = support::until_market_produced(&exchange, &running, 3).await;
    let total: u64 = expected.values().sum();
    assert_eq!(running.metrics.connected.get(), 1);
    let metrics = running.stop().await;
    assert_eq!(metrics.subscribe_errors.get(), 1);

    let counts: BTreeMap<&str, u64> = BadKind::ALL
        .iter()
        .map(|k| (k.label(), metrics.bad(*k).get()))
        .collect();
    let want: BTreeMap<&str, u64> = [
        ("not_json", 1),
        ("unknown_message", 1),
        ("missing_field", 1),
        ("not_numeric", 1),
        ("not_finite", 1),
        ("not_positive", 2),
        ("bad_timestamp", 1),
        ("invalid_field", 0),
        // See `integrity`: this file's trades are all from the past.
        ("ahead_of_receive_time", 0),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, want);

    let records = consume_until(&topic, Duration::from_secs(30), move |r| {
        r.len() as u64 >= total
    })
    .await;
    assert_exactly_once(&support::trades(&records), &expected);

    let letters = consume_until(&dead, Duration::from_secs(30), |r| r.len() >= 8).await;
    let mut reasons: Vec<&str> = letters.iter().filter_map(|r| r.key.as_deref()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "bad_timestamp",
            "missing_field",
            "not_finite",
            "not_json",
            "not_numeric",
            "not_positive",
            "not_positive",
            "unknown_message"
        ]
    );
    let raw_nan = letters
        .iter()
        .find(|r| r.key.as_deref() == Some("not_finite"))
        .unwrap();
    assert_eq!(
        raw_nan.value.as_deref(),
        Some(items[3].as_str()),
        "the raw element is kept"
    );
    assert_eq!(metrics.dead_letters_produced.get(), 8);
}
