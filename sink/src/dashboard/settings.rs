//! What `sink dashboard` is told: plain settings with their defaults. The `sink` binary fills
//! them from its flags (`src/cli.rs`); tests start from [`Default`] with struct-update syntax.
//! Each field is the flag of the same name.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use service::exit::InvalidSettings;
use service::kafka::KafkaSettings;
use service::metrics::MetricsSettings;

/// Where the dashboard listens unless told otherwise: this machine only.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8050));

/// `sink dashboard` settings. [`Default`] holds every default (the binary's flags show them).
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardSettings {
    /// Address of the web page; port 0 picks a free one (see `Dashboard::local_addr`).
    pub listen: SocketAddr,
    pub kafka: KafkaSettings,
    /// The strategy's signals topic (with `rules.every_bar` on, it has every bar).
    pub topic: String,
    /// Bars kept per chart (strategy and symbol), the oldest forgotten first: what a browser
    /// gets on connecting, and the dashboard's memory bound.
    pub history_bars: usize,
    /// At startup, read at most this many records back from the end of each partition to
    /// fill the history (the rest of a long topic is never read).
    pub replay_records: i64,
    /// BUY/SELL signals kept for the recent-signals table.
    pub recent_signals: usize,
    /// Events a browser may be behind before its stream is ended (it reconnects and starts
    /// over from a snapshot); bounds the memory of slow browsers.
    pub client_queue: usize,
    /// Prometheus endpoint of `ingest` (its `--metrics-addr`), e.g.
    /// `http://127.0.0.1:9464/metrics`; `None`: not shown.
    pub ingest_metrics_url: Option<String>,
    /// Prometheus endpoint of `sink forward`.
    pub forwarder_metrics_url: Option<String>,
    /// Prometheus endpoint of `sink receive`.
    pub receiver_metrics_url: Option<String>,
    /// The Spark driver UI (the Connect server's), e.g. `http://127.0.0.1:4040`.
    pub spark_ui_url: Option<String>,
    /// How often the health strip is refreshed.
    pub health_interval: Duration,
    /// A piece with no news this long is shown as stale (for bars: at least three bar
    /// intervals).
    pub stale_after: Duration,
    pub metrics: MetricsSettings,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            kafka: KafkaSettings::default(),
            topic: "signals".into(),
            history_bars: 500,
            replay_records: 20_000,
            recent_signals: 50,
            client_queue: 4096,
            ingest_metrics_url: None,
            forwarder_metrics_url: None,
            receiver_metrics_url: None,
            spark_ui_url: None,
            health_interval: Duration::from_secs(1),
            stale_after: Duration::from_secs(15),
            metrics: MetricsSettings::default(),
        }
    }
}

impl DashboardSettings {
    /// Checks what can be checked without I/O; reports every problem at once, each naming its
    /// flag.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let mut problems = Vec::new();
        if self.topic.is_empty() {
            problems.push("--topic must not be empty".into());
        }
        for (flag, n) in [
            ("--history-bars", self.history_bars),
            ("--recent-signals", self.recent_signals),
            ("--client-queue", self.client_queue),
        ] {
            if n == 0 {
                problems.push(format!("{flag} must be at least 1"));
            }
        }
        if self.replay_records < 0 {
            problems.push("--replay-records must not be negative".into());
        }
        if self.health_interval.is_zero() {
            problems.push("--health-interval-ms must be at least 1".into());
        }
        for (flag, url) in [
            ("--ingest-metrics-url", &self.ingest_metrics_url),
            ("--forwarder-metrics-url", &self.forwarder_metrics_url),
            ("--receiver-metrics-url", &self.receiver_metrics_url),
            ("--spark-ui-url", &self.spark_ui_url),
        ] {
            if let Some(url) = url {
                if !url.starts_with("http://") && !url.starts_with("https://") {
                    problems.push(format!(
                        "{flag} must be an http:// or https:// URL, not `{url}`"
                    ));
                }
            }
        }
        InvalidSettings::check(problems, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_at_once() {
        DashboardSettings::default().validate().unwrap();
        let bad = DashboardSettings {
            history_bars: 0,
            spark_ui_url: Some("127.0.0.1:4040".into()),
            ..DashboardSettings::default()
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.to_string().contains("--spark-ui-url"), "{err}");
    }
}
