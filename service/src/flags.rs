//! The flags every binary shares, defined once so they read and behave the same in each:
//! `--log`, `--metrics-addr`, `--metrics-log-interval-s`, and (for the Kafka clients)
//! `--brokers` and `--kafka-option`. Each converts into the library's plain settings type;
//! libraries never see clap.
//!
//! Shared flags read shared environment variables (`RUST_LOG`, `METRICS_ADDR`,
//! `METRICS_LOG_INTERVAL_S`, `KAFKA_BROKERS`); a flag on the command line wins.

use std::net::SocketAddr;
use std::time::Duration;

use crate::metrics::{MetricsSettings, DEFAULT_LOG_INTERVAL};

/// `--log`: flatten into a binary's top-level parser.
#[derive(Debug, Clone, clap::Args)]
pub struct LogFlags {
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `info,sink=debug`. Logs go to
    /// stderr.
    #[arg(long, env = "RUST_LOG", default_value = crate::logging::DEFAULT_FILTER, global = true)]
    pub log: String,
}

impl LogFlags {
    /// Installs the logger (see [`crate::logging::init`]).
    pub fn init(&self) {
        crate::logging::init(&self.log);
    }
}

/// `--metrics-addr` and `--metrics-log-interval-s`.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsFlags {
    /// Serve Prometheus metrics (text format) on this address, e.g. `127.0.0.1:9464`.
    /// Default: not served.
    #[arg(long, env = "METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// Log every metric once per this many seconds (0: never).
    #[arg(long, env = "METRICS_LOG_INTERVAL_S", value_name = "SECONDS",
          default_value_t = DEFAULT_LOG_INTERVAL.as_secs())]
    pub metrics_log_interval_s: u64,
}

impl MetricsFlags {
    pub fn settings(&self) -> MetricsSettings {
        MetricsSettings {
            addr: self.metrics_addr,
            log_interval: (self.metrics_log_interval_s > 0)
                .then(|| Duration::from_secs(self.metrics_log_interval_s)),
        }
    }
}

/// `--brokers` and `--kafka-option`.
#[cfg(feature = "kafka")]
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaFlags {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = crate::kafka::DEFAULT_BROKERS)]
    pub brokers: String,

    /// Extra librdkafka setting as KEY=VALUE (repeatable), e.g. `security.protocol=ssl`.
    /// Settings that the service controls itself (see its --help) are refused.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
}

#[cfg(feature = "kafka")]
impl KafkaFlags {
    pub fn settings(&self) -> crate::kafka::KafkaSettings {
        crate::kafka::KafkaSettings {
            brokers: self.brokers.clone(),
            options: self.options.clone(),
        }
    }
}

/// `KEY=VALUE`, both trimmed; the key must not be empty.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        log: LogFlags,
        #[command(flatten)]
        metrics: MetricsFlags,
    }

    #[test]
    fn metrics_interval_zero_means_never() {
        let cli = Cli::try_parse_from(["x", "--metrics-log-interval-s", "0"]).unwrap();
        assert_eq!(cli.metrics.settings(), MetricsSettings::off());
        let cli = Cli::try_parse_from(["x", "--metrics-addr", "127.0.0.1:9"]).unwrap();
        let s = cli.metrics.settings();
        assert_eq!(s.log_interval, Some(DEFAULT_LOG_INTERVAL));
        assert_eq!(s.addr, Some("127.0.0.1:9".parse().unwrap()));
    }

    #[test]
    fn key_values_need_a_key() {
        assert_eq!(parse_key_value(" a = b "), Ok(("a".into(), "b".into())));
        assert!(parse_key_value("nokey").is_err());
        assert!(parse_key_value("=v").is_err());
    }
}
