//! `sink dashboard` against the real Kafka and a real headless Chromium (Debian's `chromium`):
//! history for a late browser, bad records counted and skipped, the page's candles, marks,
//! health strip and banner, and 20 browsers' streams at 50 bars/s without a lost update.
//!
//! Outages are simulated without touching the shared broker: a dashboard pointed at a port
//! where no broker listens (Kafka down), a topic that stops getting bars and gets them again
//! (the query stopped and back), and a service whose metrics endpoint stops answering and
//! comes back (a receiver stopped and restarted on the same port).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contract::{Action, Signal};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use service::metrics::{MetricsSettings, Registry};
use service::shutdown::{self, ShutdownTrigger};
use sink::dashboard::{Dashboard, DashboardSettings, Summary};
use sink::receive::ReceiveSettings;
use testkit::browser::{self, Browser};
use testkit::{create_topic, produce, rand_topic};
use tokio::task::JoinHandle;

use crate::support::RunningReceiver;

/// A bar of `symbol` as the Spark query writes it with `every_bar`: a random-walk price, a
/// price-scale indicator, two oscillators, BUY or SELL every 7th bar.
fn bar(symbol: &str, i: usize, start: DateTime<Utc>, step_s: i64) -> Signal {
    let bar_start = start + chrono::Duration::seconds(i as i64 * step_s);
    let bar_end = bar_start + chrono::Duration::seconds(step_s);
    let base = 100.0 + 10.0 * (symbol.len() as f64);
    let close = base + (i as f64 / 3.0).sin() * 2.0 + i as f64 * 0.05;
    let open = close - (i as f64).cos();
    let action = match i % 7 {
        3 => Action::Buy,
        6 => Action::Sell,
        _ => Action::Hold,
    };
    Signal {
        id: Signal::make_id("dash", symbol, bar_end),
        strategy: "dash".into(),
        symbol: symbol.into(),
        bar_start,
        bar_end,
        open,
        high: open.max(close) + 0.5,
        low: open.min(close) - 0.5,
        close,
        volume: 3.0,
        trades: 12,
        bars: i as u32 + 1,
        indicators: [
            ("sma_fast", Some(close - 0.2)),
            ("rsi", Some(50.0 + 30.0 * (i as f64 / 4.0).sin())),
            ("macd", Some((i as f64 / 5.0).sin())),
            ("macd_signal", Some((i as f64 / 6.0).sin())),
        ]
        .into_iter()
        .collect(),
        action,
        reasons: match action {
            Action::Hold => vec![],
            _ => vec!["sma_cross".into(), "rsi".into()],
        },
    }
}

fn record(s: &Signal) -> (String, String, i64) {
    (
        s.symbol.clone(),
        serde_json::to_string(s).unwrap(),
        Utc::now().timestamp_millis(),
    )
}

/// Bars `from..to` of every symbol, interleaved, starting at `start`.
fn bars(symbols: &[&str], from: usize, to: usize, start: DateTime<Utc>) -> Vec<Signal> {
    (from..to)
        .flat_map(|i| symbols.iter().map(move |s| bar(s, i, start, 5)))
        .collect()
}

/// An in-process dashboard on a free port.
struct Running {
    addr: SocketAddr,
    metrics: Registry,
    trigger: ShutdownTrigger,
    task: JoinHandle<Summary>,
}

impl Running {
    async fn start(settings: DashboardSettings) -> Self {
        let dashboard = Dashboard::bind(DashboardSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            metrics: MetricsSettings::off(),
            ..settings
        })
        .await
        .expect("dashboard binds");
        let (trigger, shutdown) = shutdown::channel();
        Self {
            addr: dashboard.local_addr(),
            metrics: dashboard.metrics(),
            trigger,
            task: tokio::spawn(
                async move { dashboard.run(shutdown).await.expect("dashboard run") },
            ),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    async fn stop(self) -> Summary {
        self.trigger.fire();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the dashboard stops within 10 s, browsers connected or not")
            .expect("dashboard task")
    }
}

fn settings(topic: &str) -> DashboardSettings {
    DashboardSettings {
        kafka: service::kafka::KafkaSettings {
            brokers: testkit::brokers(),
            ..Default::default()
        },
        topic: topic.into(),
        ..DashboardSettings::default()
    }
}

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    name: String,
    data: serde_json::Value,
}

/// A browser's event stream, read the way `EventSource` does.
struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    async fn connect(addr: SocketAddr) -> Self {
        let response = reqwest::get(format!("http://{addr}/events"))
            .await
            .expect("GET /events");
        assert_eq!(response.status(), 200);
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments and keep-alives skipped); `None` when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if name.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(Sse { name, data });
            }
            let chunk = self.response.chunk().await.expect("read /events")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

#[tokio::test]
async fn a_late_browser_gets_the_last_bars_of_every_symbol_and_bad_records_are_skipped() {
    let topic = rand_topic("dash-history");
    create_topic(&topic, 2).await;
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD"];
    let start = Utc::now() - chrono::Duration::hours(1);
    let mut records: Vec<_> = bars(&symbols, 0, 30, start).iter().map(record).collect();
    records.push(("x".into(), "{not json".into(), 0));
    records.push(("x".into(), r#"{"id":"only"}"#.into(), 0));
    produce(&topic, &records).await;

    let dashboard = Running::start(DashboardSettings {
        history_bars: 20,
        ..settings(&topic)
    })
    .await;
    let metrics = dashboard.metrics.clone();
    testkit::wait_for(Duration::from_secs(30), || {
        metrics.value("dashboard_bars_total") >= 90.0 && metrics.value("skipped_total") >= 2.0
    })
    .await
    .unwrap_or_else(|_| panic!("bars and bad records not read: {:?}", metrics.snapshot()));
    assert_eq!(metrics.value("skipped_total"), 2.0);

    let mut client = SseClient::connect(dashboard.addr).await;
    let snapshot = client.next().await.unwrap();
    assert_eq!(snapshot.name, "snapshot");
    let charts = snapshot.data["charts"].as_object().unwrap();
    assert_eq!(charts.len(), 3, "{:?}", charts.keys());
    for (key, bars) in charts {
        let bars = bars.as_array().unwrap();
        assert_eq!(bars.len(), 20, "{key}: the last 20 bars only");
        assert_eq!(bars[19]["bars"], 30, "{key}: the newest bar last");
    }
    let signals = snapshot.data["signals"].as_array().unwrap();
    assert!(!signals.is_empty() && signals.iter().all(|s| s["action"] != "HOLD"));

    // Live bars follow the snapshot, numbered one after the other.
    produce(
        &topic,
        &bars(&symbols, 30, 32, start)
            .iter()
            .map(record)
            .collect::<Vec<_>>(),
    )
    .await;
    let mut seq = snapshot.data["seq"].as_u64().unwrap();
    let mut live = 0;
    while live < 6 {
        let event = tokio::time::timeout(Duration::from_secs(20), client.next())
            .await
            .expect("live bars within 20 s")
            .expect("stream open");
        assert_eq!(event.data["seq"].as_u64(), Some(seq + 1), "{event:?}");
        seq += 1;
        if event.name == "bar" {
            live += 1;
        }
    }
    let summary = dashboard.stop().await;
    assert_eq!(summary.skipped, 2);
    assert!(
        client.next().await.is_none(),
        "streams end when the dashboard stops"
    );
}

/// CPU seconds (user + system) and resident memory (now, peak; KiB) of a process.
fn usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (ticks / 100.0, kib("VmRSS:"), kib("VmHWM:"))
}

/// 20 browsers' event streams (what `EventSource` reads) on the `sink` binary while 50 bars/s
/// arrive over 5 symbols for 20 s: every stream gets every bar, numbered without a gap. The
/// server's CPU and memory are printed (run with --nocapture to see them); they are figures
/// for the README, not assertions.
#[tokio::test]
async fn twenty_browsers_at_fifty_bars_per_second_lose_no_update() {
    const CLIENTS: usize = 20;
    const SECONDS: usize = 20;
    const RATE: usize = 50;
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD", "XRP/USD", "ADA/USD"];
    let topic = rand_topic("dash-load");
    create_topic(&topic, 4).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_sink"))
        .args([
            "dashboard",
            "--listen",
            &addr.to_string(),
            "--topic",
            &topic,
        ])
        .env("KAFKA_BROKERS", testkit::brokers())
        .env("RUST_LOG", "warn")
        .env_remove("SPARK_UI_URL")
        .kill_on_drop(true)
        .spawn()
        .expect("start sink dashboard");
    let pid = server.id().unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dashboard not listening"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (cpu0, rss0, _) = usage(pid);

    let total = RATE * SECONDS;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut client = SseClient::connect(addr).await;
        clients.push(tokio::spawn(async move {
            let snapshot = client.next().await.expect("snapshot");
            let mut seq = snapshot.data["seq"].as_u64().unwrap();
            let mut bars = 0;
            while bars < total {
                let event = tokio::time::timeout(Duration::from_secs(30), client.next())
                    .await
                    .expect("an update within 30 s")
                    .expect("the stream stays open");
                let got = event.data["seq"].as_u64().unwrap();
                assert_eq!(got, seq + 1, "update lost or out of order");
                seq = got;
                if event.name == "bar" {
                    bars += 1;
                }
            }
            bars
        }));
    }

    let start = Utc::now() - chrono::Duration::hours(2);
    let all = bars(&symbols, 0, total / symbols.len(), start);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", testkit::brokers())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let produce_started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    // 5 bars every 100 ms: 50 bars/s, evenly.
    for chunk in all.chunks(RATE / 10) {
        tick.tick().await;
        let sent: Vec<_> = chunk
            .iter()
            .map(|s| {
                let json = serde_json::to_string(s).unwrap();
                producer
                    .send_result(FutureRecord::to(&topic).key(&s.symbol).payload(&json))
                    .map_err(|(e, _)| e)
                    .expect("enqueue")
            })
            .collect();
        for delivery in sent {
            delivery
                .await
                .unwrap()
                .map_err(|(e, _)| e)
                .expect("delivered");
        }
    }
    for client in clients {
        assert_eq!(client.await.expect("client task"), total);
    }
    let wall = produce_started.elapsed().as_secs_f64();
    let (cpu1, rss1, peak) = usage(pid);
    println!(
        "dashboard load: {CLIENTS} event streams, {total} bars in {wall:.1} s ({:.0} bars/s): \
         server CPU {:.2} s = {:.1}% of one core; RSS {} KiB before, {} KiB after, peak {} KiB",
        total as f64 / wall,
        cpu1 - cpu0,
        100.0 * (cpu1 - cpu0) / wall,
        rss0,
        rss1,
        peak
    );
    server.start_kill().unwrap();
    let _ = server.wait().await;
}

/// The bars and marks the page shows per chart, from the chart component itself.
const SHOWN: &str = r#"(() => {
  const out = {};
  for (const key of Object.keys(window.dashboard.bars())) {
    window.dashboard.select(key);
    out[key] = { candles: window.dashboard.chart.bars().length, marks: window.dashboard.chart.markerCount(),
                 panes: window.dashboard.chart.panes().length };
  }
  return out;
})()"#;

/// Problems in the banner now, as the page shows them.
const BANNER: &str = "document.getElementById('banner').classList.contains('show') \
                      ? document.getElementById('banner').innerText : ''";

#[tokio::test]
async fn the_page_shows_candles_marks_and_health_and_a_banner_while_bars_or_a_service_stop() {
    let topic = rand_topic("dash-page");
    create_topic(&topic, 2).await;
    let symbols = ["BTC/USD", "ETH/USD", "SOL/USD"];
    let start = Utc::now() - chrono::Duration::seconds(5 * 40);
    produce(
        &topic,
        &bars(&symbols, 0, 30, start)
            .iter()
            .map(record)
            .collect::<Vec<_>>(),
    )
    .await;
    // A real service with a metrics endpoint, to be stopped and started again on its port.
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    let receiver_settings = || ReceiveSettings {
        metrics: MetricsSettings {
            addr: Some(metrics_addr),
            log_interval: None,
        },
        ..crate::support::quiet_receiver()
    };
    let receiver = RunningReceiver::start(receiver_settings()).await;

    let dashboard = Running::start(DashboardSettings {
        receiver_metrics_url: Some(format!("http://{metrics_addr}/metrics")),
        stale_after: Duration::from_secs(3),
        ..settings(&topic)
    })
    .await;
    let mut page = Browser::open(&dashboard.url()).await;

    // Live bars keep coming, one per symbol every 500 ms, until told to stop.
    let (stop_bars, stopped) = shutdown::channel();
    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            let mut i = 30;
            while !stopped.is_stopped() {
                produce(
                    &topic,
                    &bars(&symbols, i, i + 1, start)
                        .iter()
                        .map(record)
                        .collect::<Vec<_>>(),
                )
                .await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            i
        })
    };

    let shown = page
        .wait_for(
            &format!("(() => {{ const s = {SHOWN}; return Object.keys(s).length === 3 && Object.values(s).every(c => c.candles >= 30 && c.marks > 0) ? s : null }})()"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|v| panic!("candles and marks for every symbol within a minute: {v}"));
    println!("shown: {shown}");
    for chart in shown.as_object().unwrap().values() {
        assert_eq!(chart["panes"], 3, "price, rsi and macd panes: {chart}");
    }
    let health = page
        .wait_for(
            "(() => { const h = window.dashboard.state.health; if (!h) return null; \
              const r = h.pieces.find(p => p.name === 'receiver'); const k = h.pieces.find(p => p.name === 'kafka'); \
              return h.clients === 1 && r.state === 'ok' && r.values[1][1] === 0 && k.state === 'ok' && k.values[0][1] !== null ? h : null })()",
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|v| panic!("health strip with live numbers: {v}"));
    println!("health: {health}");
    assert_eq!(
        page.wait_for(BANNER, Duration::ZERO).await,
        Err(serde_json::Value::from("")),
        "no banner while all is well"
    );
    assert!(
        page.eval("document.querySelectorAll('#signals tr').length")
            .await
            .as_u64()
            .unwrap()
            > 0
    );
    page.eval("window.dashboard.select(Object.keys(window.dashboard.bars())[0])")
        .await;
    page.screenshot(&browser::target_path("dashboard-live.png"))
        .await;

    // The topic stops getting bars (as when the query stops): banner within seconds (three
    // bar intervals of 5 s)...
    let t = Instant::now();
    stop_bars.fire();
    let next = producer.await.unwrap();
    let banner = page
        .wait_for(BANNER, Duration::from_secs(25))
        .await
        .unwrap_or_else(|_| panic!("no banner 25 s after the bars stopped"));
    assert!(banner.as_str().unwrap().contains("no new bars"), "{banner}");
    println!(
        "banner after {:.1} s without bars: {banner}",
        t.elapsed().as_secs_f64()
    );
    page.screenshot(&browser::target_path("dashboard-stale.png"))
        .await;
    // ... gone once bars come again.
    produce(
        &topic,
        &bars(&symbols, next, next + 1, start)
            .iter()
            .map(record)
            .collect::<Vec<_>>(),
    )
    .await;
    page.wait_for(&format!("!({BANNER})"), Duration::from_secs(10))
        .await
        .expect("banner gone once bars come again");

    // A service stops answering on its metrics port: banner; started again: gone.
    receiver.stop().await;
    let banner = page
        .wait_for(BANNER, Duration::from_secs(10))
        .await
        .expect("banner when the receiver's metrics stop answering");
    assert!(
        banner
            .as_str()
            .unwrap()
            .contains("receiver does not answer"),
        "{banner}"
    );
    let receiver = RunningReceiver::start(receiver_settings()).await;
    produce(
        &topic,
        &bars(&symbols, next + 1, next + 2, start)
            .iter()
            .map(record)
            .collect::<Vec<_>>(),
    )
    .await;
    page.wait_for(&format!("!({BANNER})"), Duration::from_secs(10))
        .await
        .expect("banner gone once the receiver answers again");

    assert_eq!(page.eval("window.dashboard.state.resyncs").await, 0);
    assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    receiver.stop().await;
    dashboard.stop().await;
}

#[tokio::test]
async fn kafka_unreachable_shows_the_banner_within_seconds() {
    // A port where no broker listens: what the dashboard sees while Kafka is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dashboard = Running::start(DashboardSettings {
        kafka: service::kafka::KafkaSettings {
            brokers: dead.to_string(),
            ..Default::default()
        },
        topic: "signals".into(),
        ..DashboardSettings::default()
    })
    .await;
    let mut page = Browser::open(&dashboard.url()).await;
    let t = Instant::now();
    let banner = page
        .wait_for(
            &format!("(() => {{ const b = {BANNER}; return b.includes('Kafka unreachable') ? b : '' }})()"),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|v| panic!("no Kafka banner within 15 s: {v:?}"));
    println!("banner after {:.1} s: {banner}", t.elapsed().as_secs_f64());
    let kafka: BTreeMap<String, serde_json::Value> = serde_json::from_value(
        page.eval("window.dashboard.state.health.pieces.find(p => p.name === 'kafka')")
            .await,
    )
    .unwrap();
    assert_eq!(kafka["state"], "down");
    page.screenshot(&browser::target_path("dashboard-kafka-down.png"))
        .await;
    assert!(page.errors.is_empty(), "console errors: {:?}", page.errors);
    dashboard.stop().await;
}
