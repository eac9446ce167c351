//! The dashboard on the whole pipeline, as `spark/stack demo` runs it: simulated trades through
//! the fake exchange and ingest, the Spark query with `every_bar` on, the forwarder and the
//! receiver, and `sink dashboard` reading the signals topic, the services' metrics and the
//! Spark driver UI, looked at by a real headless Chromium.
//!
//! Then the Spark query is stopped (as a crash or `analytics stop` would): the banner names it
//! within seconds, and goes once the query is submitted again (from its checkpoint). Last, the
//! Kafka broker is stopped and started again: the banner names Kafka within seconds and goes
//! on its own once the broker is back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use analytics::control;
use contract::{Action, Signal};
use e2e::{stack, Options, Pipeline};
use ingest::fake_exchange::FakeExchangeSettings;
use ingest::source::SimulateSettings;
use service::kafka::KafkaSettings;
use service::metrics::MetricsSettings;
use service::shutdown;
use sink::dashboard::{Dashboard, DashboardSettings};
use testkit::browser::{self, Browser};

const SYMBOLS: [&str; 3] = ["BTC/USD", "ETH/USD", "SOL/USD"];

/// Problems in the banner now, as the page shows them.
const BANNER: &str = "document.getElementById('banner').classList.contains('show') \
                      ? document.getElementById('banner').innerText : ''";

/// A banner naming Kafka, or nothing.
const KAFKA_BANNER: &str = "(() => { const b = document.getElementById('banner'); \
    return b.classList.contains('show') && b.innerText.includes('Kafka') ? b.innerText : '' })()";

/// A banner naming the stopped query, or nothing.
const QUERY_BANNER: &str = "(() => { const b = document.getElementById('banner'); \
    return b.classList.contains('show') && b.innerText.includes('Spark query not running') ? b.innerText : '' })()";

fn strategy() -> analytics::Strategy {
    let mut s = e2e::path::strategy();
    s.bars.interval_s = 2;
    s.indicators.classic.sma_fast = 2;
    s.indicators.classic.sma_slow = 4;
    s.rules.every_bar = true;
    s
}

#[test]
fn the_dashboard_shows_the_live_pipeline_and_a_stopped_query() {
    let _serial = crate::serial();
    let p = Pipeline::start(Options {
        name: "dashboard".into(),
        exchange: FakeExchangeSettings {
            market: SimulateSettings {
                symbols: SYMBOLS.map(String::from).to_vec(),
                rate: 30.0,
                ..SimulateSettings::default()
            },
            ..FakeExchangeSettings::default()
        },
        strategy: strategy(),
        trades_partitions: 2,
        ack: true,
        supervise: false,
        security: None,
    });
    let m = p.metrics_addrs;
    let settings = DashboardSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        kafka: KafkaSettings {
            brokers: testkit::brokers(),
            ..KafkaSettings::default()
        },
        topic: p.signals_topic.clone(),
        ingest_metrics_url: Some(format!("http://{}/metrics", m.ingest)),
        forwarder_metrics_url: Some(format!("http://{}/metrics", m.forwarder)),
        receiver_metrics_url: Some(format!("http://{}/metrics", m.receiver)),
        spark_ui_url: Some(
            std::env::var("SPARK_UI_URL").unwrap_or_else(|_| "http://127.0.0.1:4040".into()),
        ),
        metrics: MetricsSettings::off(),
        ..DashboardSettings::default()
    };
    let dashboard =
        p.rt.block_on(Dashboard::bind(settings))
            .expect("dashboard binds");
    let url = format!("http://{}/", dashboard.local_addr());
    let (stop, shutdown) = shutdown::channel();
    let served = p.rt.spawn(dashboard.run(shutdown));
    let mut page = p.rt.block_on(Browser::open(&url));

    // Within a minute: candles for every symbol.
    let started = Instant::now();
    let bars =
        p.rt.block_on(page.wait_for(
            "(() => { const b = window.dashboard.bars(); const n = Object.values(b); \
               return n.length === 3 && n.every(c => c >= 3) ? b : null })()",
            Duration::from_secs(60),
        ))
        .unwrap_or_else(|v| {
            panic!(
                "no candles for every symbol within a minute: {v}; query: {}",
                p.last_progress()
            )
        });
    println!(
        "candles after {:.0} s: {bars}",
        started.elapsed().as_secs_f64()
    );

    // A BUY or SELL mark on the chart of a symbol whose signals on the topic have one.
    let marked =
        p.rt.block_on(page.wait_for(
            "(() => { for (const [k, n] of Object.entries(window.dashboard.signals())) { \
               if (n > 0) { window.dashboard.select(k); \
                 return window.dashboard.chart.markerCount() > 0 ? k : null } } return null })()",
            Duration::from_secs(90),
        ))
        .unwrap_or_else(|v| panic!("no BUY/SELL mark within 90 s: {v}"));
    let symbol = marked
        .as_str()
        .unwrap()
        .split(" · ")
        .nth(1)
        .unwrap()
        .to_string();
    let signal_of = |symbol: &str, r: &testkit::Record| {
        serde_json::from_str::<Signal>(r.value.as_deref().unwrap_or_default())
            .is_ok_and(|s| s.symbol == symbol && s.action != Action::Hold)
    };
    let wanted = symbol.clone();
    let on_topic = p.rt.block_on(testkit::consume_until(
        &p.signals_topic,
        Duration::from_secs(30),
        move |records| records.iter().any(|r| signal_of(&wanted, r)),
    ));
    assert!(
        on_topic.iter().any(|r| signal_of(&symbol, r)),
        "the page marks {symbol}, the topic has no signal of it"
    );

    // The health strip with live numbers from every piece.
    let health = p
        .rt
        .block_on(page.wait_for(
            "(() => { const h = window.dashboard.state.health; if (!h) return null; \
               const v = {}; for (const p of h.pieces) v[p.name] = Object.fromEntries(p.values); \
               return v.ingest['trades/s'] > 0 && v.spark['batch ms'] > 0 && v.spark['input rows/s'] !== null \
                 && v.spark['watermark delay s'] !== null && v.forwarder.lag !== null \
                 && v.receiver.received > 0 && v.kafka['last bar (s ago)'] !== null ? v : null })()",
            Duration::from_secs(60),
        ))
        .unwrap_or_else(|v| panic!("no live numbers in the health strip: {v}"));
    println!("health: {health}");
    let banner = p.rt.block_on(page.eval(BANNER));
    assert_eq!(banner, "", "no banner while everything runs");
    p.rt.block_on(page.screenshot(&browser::target_path("dashboard-pipeline.png")));

    // The query stops: the banner says so within seconds...
    control::stop(&p.spark, p.strategy.query_name(), Duration::ZERO).expect("stop the query");
    let t = Instant::now();
    let banner =
        p.rt.block_on(page.wait_for(QUERY_BANNER, Duration::from_secs(15)))
            .unwrap_or_else(|_| panic!("no banner 15 s after the query stopped"));
    println!(
        "banner {:.1} s after the query stopped: {banner}",
        t.elapsed().as_secs_f64()
    );
    p.rt.block_on(page.screenshot(&browser::target_path("dashboard-query-stopped.png")));
    // ... and goes once it runs again.
    p.submit();
    p.rt.block_on(page.wait_for(&format!("!{QUERY_BANNER}"), Duration::from_secs(60)))
        .expect("the banner goes once the query runs again");
    let after: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(p.rt.block_on(page.eval("window.dashboard.bars()"))).unwrap();
    assert_eq!(after.len(), 3);

    // Kafka goes away: the banner names it within seconds, and goes on its own once the broker
    // is back (the query, if the outage ended it, is resubmitted as an operator would).
    stack::stop("kafka");
    let t = Instant::now();
    let banner =
        p.rt.block_on(page.wait_for(KAFKA_BANNER, Duration::from_secs(20)))
            .unwrap_or_else(|_| panic!("no Kafka banner 20 s after the broker stopped"));
    println!(
        "banner {:.1} s after Kafka stopped: {banner}",
        t.elapsed().as_secs_f64()
    );
    p.rt.block_on(page.screenshot(&browser::target_path("dashboard-kafka-down.png")));
    stack::start("kafka");
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    if !p.query_active() {
        p.submit();
    }
    p.rt.block_on(page.wait_for(&format!("!{KAFKA_BANNER}"), Duration::from_secs(90)))
        .expect("the Kafka banner goes once the broker is back");
    println!(
        "Kafka banner gone {:.1} s after the broker started",
        t.elapsed().as_secs_f64()
    );

    assert_eq!(
        p.rt.block_on(page.eval("window.dashboard.state.resyncs")),
        0
    );
    assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    stop.fire();
    let summary = p.rt.block_on(served).unwrap().expect("dashboard run");
    assert_eq!(summary.skipped, 0);
}
