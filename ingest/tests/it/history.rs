//! `ingest history`: REST history from the fake exchange (paging, the rate limit, 429 and 5xx
//! answered again with backoff, a malformed page that ends the load with nothing of it
//! written, and a second run resuming from the last trade written), and Kraken's CSV (bad
//! lines counted and skipped, deterministic ids, a reload adding nothing). Every load lands
//! in the topic exactly once by trade id, created keeping every record.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contract::records::Trade;
use ingest::fake_exchange::FakeExchange;
use ingest::metrics::Metrics;
use ingest::source::kraken::protocol::BadKind;
use ingest::source::{HistoryInput, HistorySettings, RestHistory, SimulateSettings, Source, Speed};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use testkit::{brokers, consume_until, rand_topic, wait_for};

use crate::support;

fn start() -> DateTime<Utc> {
    "2026-01-05T00:00:00Z".parse().unwrap()
}

fn symbols() -> Vec<String> {
    vec!["BTC/USD".into(), "ETH/USD".into()]
}

/// 2 × 2500 trades, 10 a second of event time from 2026-01-05, published at once.
async fn exchange() -> FakeExchange {
    let exchange = support::fake_exchange(SimulateSettings {
        symbols: symbols(),
        rate: 10.0,
        speed: Speed::Max,
        count: Some(5000),
        start: Some(start()),
        ..SimulateSettings::default()
    })
    .await;
    exchange.open_market();
    wait_for(Duration::from_secs(30), || exchange.market_closed())
        .await
        .expect("market did not close");
    exchange
}

fn rest_history(exchange: &FakeExchange, to: DateTime<Utc>) -> HistorySettings {
    HistorySettings {
        input: HistoryInput::Rest(RestHistory {
            url: exchange.rest_url(),
            symbols: symbols(),
            interval: Duration::from_millis(150),
            timeout: Duration::from_secs(5),
            attempts: 4,
            retry_initial: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
        }),
        from: Some(start() + chrono::Duration::seconds(20)),
        to: Some(to),
        progress_interval: Duration::from_millis(200),
        ..HistorySettings::default()
    }
}

/// Runs a history load to its end; its metrics and result.
async fn load(history: HistorySettings, topic: &str) -> (Metrics, Result<(), ingest::Error>) {
    let running = support::start(support::settings(
        Source::History(history),
        &brokers(),
        topic,
    ));
    let result = tokio::time::timeout(Duration::from_secs(120), running.task)
        .await
        .expect("history load did not end within 120 s")
        .expect("history task panicked");
    (running.metrics, result)
}

async fn topic_trades(topic: &str, want: usize) -> Vec<Trade> {
    let records = consume_until(topic, Duration::from_secs(20), move |r| r.len() >= want).await;
    support::trades(&records)
}

/// Ids per symbol in topic order, each exactly once.
fn ids(trades: &[Trade]) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in trades {
        out.entry(t.symbol.clone()).or_default().push(t.trade_id);
    }
    out
}

#[tokio::test]
async fn rest_history_pages_retries_and_lands_once() {
    let exchange = exchange().await;
    let all = exchange.published();
    let topic = rand_topic("history-rest");
    let to = start() + chrono::Duration::seconds(420);
    // The first Trades page of BTC/USD answers 429, then 503; ETH/USD's second page 500.
    let n = exchange.rest_requests();
    exchange.answer_at(n + 2, 429, "slow down");
    exchange.answer_at(n + 3, 503, "");
    exchange.answer_at(n + 8, 500, "");
    let began = Instant::now();
    let (metrics, result) = load(rest_history(&exchange, to), &topic).await;
    result.expect("the load succeeds after retries");
    let elapsed = began.elapsed();
    let requests = exchange.rest_requests() - n;
    // Throttled: never two requests closer than the interval (retries wait longer still).
    assert!(
        elapsed >= Duration::from_millis(150) * (requests as u32 - 1),
        "{requests} requests in {elapsed:?}"
    );
    let want: usize = metrics.trades_produced.get() as usize;
    let trades = topic_trades(&topic, want).await;
    let got = ids(&trades);
    let from = start() + chrono::Duration::seconds(20);
    for t in &trades {
        assert!(t.ts >= from && t.ts < to, "{} outside the range", t.ts);
    }
    // Each symbol: a contiguous run of ids, in order, once each: nothing lost to the retries.
    for symbol in symbols() {
        let ids = &got[&symbol];
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "{symbol}: gaps or repeats"
        );
        assert!(
            ids.len() > 1000,
            "{symbol}: {} trades, more than a page",
            ids.len()
        );
        assert!(
            *ids.last().unwrap() < all[&symbol],
            "{symbol}: the range ends before the market"
        );
    }
    // About 10 trades a second over 400 s, shared by the two symbols.
    assert!(
        (3600..=4400).contains(&trades.len()),
        "{} trades",
        trades.len()
    );
    // AssetPairs, 2 pages + 2 retries for BTC/USD, 2 pages + 1 retry for ETH/USD, and the
    // pages that find the range's end.
    assert!(requests >= 8, "{requests} requests");
}

#[tokio::test]
async fn a_malformed_page_writes_nothing_and_a_rerun_resumes_after_the_last_trade() {
    let exchange = exchange().await;
    let topic = rand_topic("history-resume");
    let to = start() + chrono::Duration::seconds(600);
    let mut history = rest_history(&exchange, to);
    if let HistoryInput::Rest(r) = &mut history.input {
        r.symbols = vec!["BTC/USD".into()];
    }
    // AssetPairs, page 1, then page 2 is not a Trades answer.
    let n = exchange.rest_requests();
    exchange.answer_at(n + 3, 200, r#"{"error":[],"result":{"XXBTZUSD":"oops"}}"#);
    let (metrics, result) = load(history.clone(), &topic).await;
    let error = result
        .expect_err("a malformed page ends the load")
        .to_string();
    assert!(
        error.contains("BTC/USD: page 2") && error.contains("nothing of that page was written"),
        "{error}"
    );
    let first = metrics.trades_produced.get() as usize;
    assert_eq!(first, 1000, "exactly page 1 is in the topic");
    let trades = topic_trades(&topic, first).await;
    assert_eq!(trades.len(), 1000);

    let n = exchange.rest_requests();
    let (metrics, result) = load(history, &topic).await;
    result.expect("the second run completes");
    let requests = exchange.rest_requests() - n;
    let second = metrics.trades_produced.get() as usize;
    // Resumed from the last trade written: only the trades within the cursor's one-second
    // margin are read again (and skipped, not re-sent); page 1 is not asked again.
    let skipped = metrics.duplicates_skipped.get();
    assert!((1..50).contains(&skipped), "{skipped} trades read again");
    assert!(
        requests <= 2 + (second as u64 + skipped) / 1000 + 1,
        "{requests} requests"
    );
    let trades = topic_trades(&topic, first + second).await;
    let got = &ids(&trades)["BTC/USD"];
    assert_eq!(got.len(), first + second);
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "gaps or repeats");
    assert!(trades.iter().all(|t| t.ts < to));
}

/// A topic that deletes what a load would write is refused, naming the fix.
#[tokio::test]
async fn a_topic_that_would_delete_the_history_is_refused() {
    let topic = rand_topic("history-retention");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    admin
        .create_topics(
            [&NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
                .set("retention.ms", "172800000")],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(rand_topic("history-csv-old"));
    std::fs::write(&dir, "1381095255,122,0.1\n").unwrap();
    let (_, result) = load(csv(&dir), &topic).await;
    let error = result.expect_err("refused").to_string();
    assert!(error.contains("retention.ms=-1"), "{error}");
    let _ = std::fs::remove_file(dir);
}

fn csv(file: &std::path::Path) -> HistorySettings {
    HistorySettings {
        input: HistoryInput::Csv {
            file: file.to_path_buf(),
            symbol: "BTC/USD".into(),
        },
        ..HistorySettings::default()
    }
}

#[tokio::test]
async fn csv_history_skips_bad_lines_and_reloads_to_nothing_new() {
    let file = std::env::temp_dir().join(rand_topic("history-csv"));
    let mut text = String::new();
    let mut good = 0;
    for i in 0..3000u64 {
        let second = 1_600_000_000 + i / 3;
        match i {
            100 => text.push_str("1600000033,abc,0.1\n"),
            200 => text.push_str("1600000066,122\n"),
            300 => text.push_str("1600000100,-5,0.1\n"),
            400 => text.push_str("1500000000,122,0.1\n"),
            500 => text.push('\n'),
            _ => {
                text.push_str(&format!(
                    "{second},{}.5,0.{:03}\n",
                    10_000 + i % 7,
                    i % 1000 + 1
                ));
                good += 1;
            }
        }
    }
    std::fs::write(&file, &text).unwrap();
    let topic = rand_topic("history-csv");
    let (metrics, result) = load(csv(&file), &topic).await;
    result.expect("CSV load");
    assert_eq!(metrics.trades_produced.get(), good);
    for kind in [
        BadKind::NotNumeric,
        BadKind::MissingField,
        BadKind::NotPositive,
        BadKind::InvalidField,
    ] {
        assert_eq!(metrics.bad(kind).get(), 1, "{kind:?}");
    }
    let trades = topic_trades(&topic, good as usize).await;
    assert_eq!(trades.len() as u64, good);
    let got = &ids(&trades)["BTC/USD"];
    assert!(got.windows(2).all(|w| w[1] > w[0]), "ids grow");
    // Three lines a second: ids second × 10^6 + 0, 1, 2 (a bad line takes no id).
    assert_eq!(
        &got[..4],
        &[
            1_600_000_000_000_000,
            1_600_000_000_000_001,
            1_600_000_000_000_002,
            1_600_000_001_000_000
        ]
    );
    assert!(trades
        .iter()
        .all(|t| t.exchange == "kraken" && t.ord_type == "unknown"));

    // The same file again: every trade is already there.
    let (metrics, result) = load(csv(&file), &topic).await;
    result.expect("reload");
    assert_eq!(metrics.trades_produced.get(), 0);
    assert_eq!(metrics.duplicates_skipped.get(), good);
    assert_eq!(support::topic_size(&brokers(), &topic), good as i64);
    let _ = std::fs::remove_file(file);
}
