//! The flags of `sink forward`, and their validation before anything connects.

use std::path::PathBuf;

use common::kafka::KafkaArgs;

use crate::line::{Filter, Format};
use crate::metrics::MetricsArgs;

/// `sink forward` settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ForwardConfig {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    /// Topic to read signals from.
    #[arg(long, env = "SINK_TOPIC", default_value = "signals")]
    pub topic: String,

    /// Kafka consumer group; its committed offsets are the forwarder's position.
    #[arg(long, env = "SINK_GROUP_ID", default_value = "sink")]
    pub group_id: String,

    /// Where a group without committed offsets starts: `earliest` or `latest`.
    #[arg(long, env = "SINK_START_FROM", default_value = "earliest",
          value_parser = ["earliest", "latest"])]
    pub start_from: String,

    /// The TCP endpoint to write signals to.
    #[arg(long, env = "SINK_ENDPOINT", value_name = "HOST:PORT")]
    pub endpoint: String,

    /// Use TLS, trusting the CA certificate(s) in this PEM file.
    #[arg(long, env = "SINK_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Name to verify in the server's certificate. Default: the host part of --endpoint.
    #[arg(long, env = "SINK_TLS_SERVER_NAME", requires = "tls_ca")]
    pub tls_server_name: Option<String>,

    /// Acknowledgement mode: the receiver answers each line with the signal's id, and offsets
    /// are committed only once acknowledged; unacknowledged lines are sent again.
    #[arg(long, env = "SINK_ACK")]
    pub ack: bool,

    /// With --ack: a line not acknowledged this long after it was written is taken as lost;
    /// the connection is reopened and every unacknowledged line sent again.
    #[arg(long, env = "SINK_ACK_TIMEOUT_MS", default_value_t = 10_000)]
    pub ack_timeout_ms: u64,

    /// Line format on the wire.
    #[arg(long, env = "SINK_FORMAT", value_enum, default_value = "ndjson")]
    pub format: Format,

    #[command(flatten)]
    pub filter: Filter,

    /// Produce records that are not signals (value and original topic/partition/offset in
    /// headers) to this topic before skipping them. Default: only count and log them.
    #[arg(long, env = "SINK_DEAD_LETTER_TOPIC", value_name = "TOPIC")]
    pub dead_letter_topic: Option<String>,

    /// At most this many records consumed but not yet committable (written, or acknowledged
    /// with --ack); consumption pauses at the limit. Bounds memory whatever the backlog.
    #[arg(long, env = "SINK_MAX_IN_FLIGHT", default_value_t = 20_000)]
    pub max_in_flight: usize,

    /// At most this many bytes of lines held for those records.
    #[arg(long, env = "SINK_MAX_IN_FLIGHT_BYTES", default_value_t = 32 << 20)]
    pub max_in_flight_bytes: usize,

    /// Without --ack: bytes of the most recently written lines kept and sent again after a
    /// reconnect, to cover lines that were still in socket buffers when the connection broke
    /// (0: none). Keep it above the peer's and our TCP buffer sizes.
    #[arg(long, env = "SINK_REPLAY_BYTES", default_value_t = 16 << 20)]
    pub replay_bytes: usize,

    /// At most this many records per turn of the loop (and so lines per write).
    #[arg(long, env = "SINK_BATCH_LINES", default_value_t = 2048)]
    pub batch_lines: usize,

    /// Commit delivered offsets at most this often (and always on shutdown).
    #[arg(long, env = "SINK_COMMIT_INTERVAL_MS", default_value_t = 1000)]
    pub commit_interval_ms: u64,

    /// Give up on a connection attempt after this long.
    #[arg(long, env = "SINK_CONNECT_TIMEOUT_MS", default_value_t = 5000)]
    pub connect_timeout_ms: u64,

    /// A write that does not complete in this long (peer not reading) breaks the connection.
    #[arg(long, env = "SINK_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    pub write_timeout_ms: u64,

    /// First reconnect delay; it doubles (with jitter) on every failure up to the maximum.
    #[arg(long, env = "SINK_BACKOFF_INITIAL_MS", default_value_t = 100)]
    pub backoff_initial_ms: u64,

    /// Longest reconnect delay.
    #[arg(long, env = "SINK_BACKOFF_MAX_MS", default_value_t = 5000)]
    pub backoff_max_ms: u64,

    /// On shutdown, wait at most this long for outstanding writes and acknowledgements before
    /// committing what was delivered.
    #[arg(long, env = "SINK_SHUTDOWN_TIMEOUT_MS", default_value_t = 5000)]
    pub shutdown_timeout_ms: u64,

    /// Check the settings, reach the broker (the topic must exist) and the endpoint, then exit.
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// Every problem found in a configuration, each naming its flag.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings:\n  {}", .0.join("\n  "))]
pub struct InvalidConfig(pub Vec<String>);

impl ForwardConfig {
    /// Checks what can be checked without I/O; reports every problem at once.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let mut problems = Vec::new();
        let mut positive = |name: &str, v: u64| {
            if v == 0 {
                problems.push(format!("--{name} must be greater than 0"));
            }
        };
        positive("max-in-flight", self.max_in_flight as u64);
        positive("max-in-flight-bytes", self.max_in_flight_bytes as u64);
        positive("batch-lines", self.batch_lines as u64);
        positive("ack-timeout-ms", self.ack_timeout_ms);
        positive("connect-timeout-ms", self.connect_timeout_ms);
        positive("write-timeout-ms", self.write_timeout_ms);
        positive("backoff-initial-ms", self.backoff_initial_ms);
        if self.backoff_max_ms < self.backoff_initial_ms {
            problems.push("--backoff-max-ms must be at least --backoff-initial-ms".into());
        }
        if self.endpoint_host().is_none() {
            problems.push(format!(
                "--endpoint `{}` is not HOST:PORT with a numeric port",
                self.endpoint
            ));
        }
        if self.topic.is_empty() {
            problems.push("--topic must not be empty".into());
        }
        if self.group_id.is_empty() {
            problems.push("--group-id must not be empty".into());
        }
        if self.dead_letter_topic.as_deref() == Some(self.topic.as_str()) {
            problems.push("--dead-letter-topic must differ from --topic".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidConfig(problems))
        }
    }

    /// The host part of `--endpoint` (brackets of an IPv6 literal removed).
    pub fn endpoint_host(&self) -> Option<&str> {
        let (host, port) = self.endpoint.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then_some(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ForwardConfig,
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let cli = Cli::try_parse_from([
            "sink",
            "--endpoint",
            "nohost",
            "--max-in-flight",
            "0",
            "--backoff-initial-ms",
            "10",
            "--backoff-max-ms",
            "5",
        ])
        .unwrap();
        let err = cli.config.validate().unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(err.to_string().contains("--endpoint"), "{err}");

        let ok =
            Cli::try_parse_from(["sink", "--endpoint", "[::1]:9000", "--symbol", "A,B"]).unwrap();
        ok.config.validate().unwrap();
        assert_eq!(ok.config.endpoint_host(), Some("::1"));
        assert_eq!(ok.config.filter.symbols, ["A", "B"]);
    }
}
