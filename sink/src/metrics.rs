//! The metrics flags both commands share, and starting what they ask for: a periodic log line
//! and, optionally, a Prometheus endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use common::metrics::Registry;
use common::shutdown::Shutdown;
use tokio::task::JoinHandle;

/// `--metrics-addr` and `--metrics-log-interval-s`.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics (text format) on this address, e.g. `127.0.0.1:9464`.
    /// Default: not served.
    #[arg(long, env = "SINK_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// Log every metric once per this many seconds (0: never).
    #[arg(long, env = "SINK_METRICS_LOG_INTERVAL_S", default_value_t = 10)]
    pub metrics_log_interval_s: u64,
}

impl MetricsArgs {
    /// Starts the log task and the server; they stop with `shutdown`. Binding happens here, so
    /// a taken port is an error at startup.
    pub async fn start(
        &self,
        registry: &Registry,
        shutdown: &Shutdown,
    ) -> std::io::Result<Vec<JoinHandle<()>>> {
        let mut tasks = Vec::new();
        if let Some(addr) = self.metrics_addr {
            tasks.push(common::metrics::serve(registry.clone(), addr, shutdown.clone()).await?);
        }
        if self.metrics_log_interval_s > 0 {
            tasks.push(tokio::spawn(common::metrics::log_periodically(
                registry.clone(),
                Duration::from_secs(self.metrics_log_interval_s),
                shutdown.clone(),
            )));
        }
        Ok(tasks)
    }
}
