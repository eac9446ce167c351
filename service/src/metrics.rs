//! Service metrics: counters and gauges that tests and benchmarks read directly, that are
//! logged periodically, and that are served as Prometheus text on an optional port.
//!
//! Deliberately tiny: a registry of atomics keyed by `name{labels}`. Handles are cheap clones,
//! so hot paths pay one relaxed atomic add. [`MetricsSettings::start`] is how every service
//! turns its settings into the log task and the server, so they behave the same everywhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

/// How often a service logs its metrics unless told otherwise.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(30);
/// Scrapes served at once; a connection beyond them is closed at once.
const MAX_SCRAPES: usize = 16;
/// A scrape must send its request and take its answer within this long, or is closed.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a service exposes its metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Serve Prometheus text on this address; `None`: not served.
    pub addr: Option<SocketAddr>,
    /// Log every metric this often; `None`: never.
    pub log_interval: Option<Duration>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            addr: None,
            log_interval: Some(DEFAULT_LOG_INTERVAL),
        }
    }
}

impl MetricsSettings {
    /// Neither served nor logged: for tests and benchmarks that read the registry directly.
    pub fn off() -> Self {
        Self {
            addr: None,
            log_interval: None,
        }
    }

    /// Starts the log task and the server; they stop with `shutdown`. Binding happens here, so
    /// a taken port is an error at startup rather than a log line later.
    pub async fn start(
        &self,
        registry: &Registry,
        shutdown: &Shutdown,
    ) -> std::io::Result<Vec<tokio::task::JoinHandle<()>>> {
        let mut tasks = Vec::new();
        if let Some(addr) = self.addr {
            tasks.push(serve(registry.clone(), addr, shutdown.clone()).await?);
        }
        if let Some(every) = self.log_interval {
            tasks.push(tokio::spawn(log_periodically(
                registry.clone(),
                every,
                shutdown.clone(),
            )));
        }
        Ok(tasks)
    }
}

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue depth, lag).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
enum Metric {
    Counter(Counter),
    Gauge(Gauge),
}

#[derive(Debug)]
struct Family {
    help: String,
    series: BTreeMap<String, Metric>,
}

/// All metrics of one service, named `<prefix>_<name>`.
#[derive(Debug, Clone)]
pub struct Registry {
    prefix: String,
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

impl Registry {
    /// `prefix` is the service name (`ingest`, `sink`); every metric name starts with it.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            families: Arc::default(),
        }
    }

    /// The counter `name` (registered on first use; later calls return the same counter).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        self.counter_with(name, &[], help)
    }

    /// The counter `name{labels}`, e.g. `bad_input_total{kind="not_json"}`.
    pub fn counter_with(&self, name: &str, labels: &[(&str, &str)], help: &str) -> Counter {
        match self.get_or_insert(name, labels, help, || Metric::Counter(Counter::default())) {
            Metric::Counter(c) => c,
            Metric::Gauge(_) => panic!("metric {name} registered as a gauge, used as a counter"),
        }
    }

    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        self.gauge_with(name, &[], help)
    }

    /// The gauge `name{labels}`, e.g. `given_up{query="demo"}`.
    pub fn gauge_with(&self, name: &str, labels: &[(&str, &str)], help: &str) -> Gauge {
        match self.get_or_insert(name, labels, help, || Metric::Gauge(Gauge::default())) {
            Metric::Gauge(g) => g,
            Metric::Counter(_) => panic!("metric {name} registered as a counter, used as a gauge"),
        }
    }

    fn get_or_insert(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        help: &str,
        make: impl FnOnce() -> Metric,
    ) -> Metric {
        let full = format!("{}_{}", self.prefix, name);
        let mut families = self.families.lock().expect("metrics lock poisoned");
        let family = families.entry(full).or_insert_with(|| Family {
            help: help.to_string(),
            series: BTreeMap::new(),
        });
        family
            .series
            .entry(render_labels(labels))
            .or_insert_with(make)
            .clone()
    }

    /// Current value of `name` summed over all its label sets (0 if never registered).
    pub fn value(&self, name: &str) -> f64 {
        let full = format!("{}_{}", self.prefix, name);
        let families = self.families.lock().expect("metrics lock poisoned");
        families
            .get(&full)
            .map_or(0.0, |f| f.series.values().map(metric_value).sum())
    }

    /// `name{labels}=value` pairs, for a periodic log line.
    pub fn snapshot(&self) -> Vec<(String, f64)> {
        let families = self.families.lock().expect("metrics lock poisoned");
        let mut out = Vec::new();
        for (name, family) in families.iter() {
            let short = name
                .strip_prefix(&format!("{}_", self.prefix))
                .unwrap_or(name);
            for (labels, metric) in &family.series {
                out.push((format!("{short}{labels}"), metric_value(metric)));
            }
        }
        out
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let families = self.families.lock().expect("metrics lock poisoned");
        let mut out = String::new();
        for (name, family) in families.iter() {
            let kind = match family.series.values().next() {
                Some(Metric::Gauge(_)) => "gauge",
                _ => "counter",
            };
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, metric) in &family.series {
                let _ = writeln!(out, "{name}{labels} {}", metric_value(metric));
            }
        }
        out
    }
}

fn metric_value(m: &Metric) -> f64 {
    match m {
        Metric::Counter(c) => c.get() as f64,
        Metric::Gauge(g) => g.get() as f64,
    }
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Serves `GET /metrics` (any path, in fact) as Prometheus text until shutdown.
///
/// Binds before returning so a bad address is an error at startup, not a log line later. At
/// most [`MAX_SCRAPES`] connections at once, each closed after [`SCRAPE_TIMEOUT`]: clients
/// that connect and say nothing cannot pile up.
pub async fn serve(
    registry: Registry,
    addr: SocketAddr,
    mut shutdown: Shutdown,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "serving Prometheus metrics");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES));
    Ok(tokio::spawn(async move {
        loop {
            let (mut socket, _) = tokio::select! {
                _ = shutdown.recv() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => { tracing::warn!(error = %e, "metrics accept failed"); continue; }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue; // dropping the socket closes it
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let scrape = async {
                    // Read (and ignore) the request head; every path answers the metrics.
                    let mut buf = [0u8; 1024];
                    let _request = socket.read(&mut buf).await?;
                    let body = registry.render();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    socket.write_all(response.as_bytes()).await?;
                    socket.shutdown().await
                };
                let _ = tokio::time::timeout(SCRAPE_TIMEOUT, scrape).await;
            });
        }
    }))
}

/// Logs every metric once per `every`, until shutdown, then once more.
pub async fn log_periodically(registry: Registry, every: Duration, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.recv() => break,
            _ = tick.tick() => log_once(&registry),
        }
    }
    log_once(&registry);
}

fn log_once(registry: &Registry) {
    let line: Vec<String> = registry
        .snapshot()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    tracing::info!(target: "metrics", "{}", line.join(" "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_shared_by_name_and_rendered() {
        let r = Registry::new("ingest");
        r.counter("trades_total", "Trades.").add(2);
        r.counter("trades_total", "Trades.").inc();
        r.counter_with("bad_input_total", &[("kind", "not_json")], "Bad input.")
            .inc();
        r.counter_with("bad_input_total", &[("kind", "bad_price")], "Bad input.")
            .add(4);
        r.gauge("queue_depth", "Queue.").set(7);
        assert_eq!(r.value("trades_total"), 3.0);
        assert_eq!(r.value("bad_input_total"), 5.0);
        let text = r.render();
        assert!(
            text.contains("# TYPE ingest_trades_total counter\ningest_trades_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("ingest_bad_input_total{kind=\"not_json\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE ingest_queue_depth gauge\ningest_queue_depth 7\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn serves_prometheus_text_over_http() {
        let r = Registry::new("sink");
        r.counter("forwarded_total", "Forwarded.").add(42);
        let (trigger, shutdown) = crate::shutdown::channel();
        // Bind to an ephemeral port by asking the OS first.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let handle = serve(r, addr, shutdown).await.unwrap();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        assert!(body.contains("sink_forwarded_total 42"), "{body}");
        trigger.fire();
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn silent_clients_are_capped_and_do_not_block_scrapes() {
        let (trigger, shutdown) = crate::shutdown::channel();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let handle = serve(Registry::new("t"), addr, shutdown).await.unwrap();
        // Fill every slot with clients that say nothing.
        let mut silent = Vec::new();
        for _ in 0..MAX_SCRAPES {
            silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // One more is closed at once.
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut buf))
            .await
            .expect("closed at once")
            .unwrap_or(0);
        assert_eq!(n, 0);
        // The silent ones are closed after the timeout, and scrapes are served again.
        tokio::time::sleep(SCRAPE_TIMEOUT + Duration::from_millis(500)).await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        trigger.fire();
        handle.await.unwrap();
    }
}
