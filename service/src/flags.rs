//! The flags every binary shares, defined once so they read and behave the same in each:
//! `--log`, `--metrics-addr`, `--metrics-log-interval-s`, and (for the Kafka clients)
//! `--brokers`, `--kafka-option` and `--kafka-option-file`. Each converts into the library's
//! plain settings type; libraries never see clap.
//!
//! Shared flags read shared environment variables (`RUST_LOG`, `METRICS_ADDR`,
//! `METRICS_LOG_INTERVAL_S`, `KAFKA_BROKERS`, `KAFKA_OPTION_FILE`); a flag on the command line
//! wins. Secrets (a SASL password, a key's password) go in an option file, so they never need to
//! be on the command line, where every local user can read them (`ps`).

use std::net::SocketAddr;
#[cfg(feature = "kafka")]
use std::path::PathBuf;
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

/// `--brokers`, `--kafka-option` and `--kafka-option-file`.
#[cfg(feature = "kafka")]
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaFlags {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = crate::kafka::DEFAULT_BROKERS)]
    pub brokers: String,

    /// Extra librdkafka setting as KEY=VALUE (repeatable), e.g. `security.protocol=ssl`.
    /// Settings that the service controls itself (see its --help) are refused. Put secrets in
    /// --kafka-option-file instead: the command line is readable by every local user.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,

    /// Extra librdkafka settings from a file, one KEY=VALUE per line (`#` starts a comment
    /// line), e.g. `security.protocol=SASL_SSL`, `sasl.mechanism=SCRAM-SHA-512`,
    /// `sasl.username=...`, `sasl.password=...`, `ssl.ca.location=ca.pem` (the local stack
    /// writes one: .stack/secrets/kafka-client.properties). Repeatable; --kafka-option wins
    /// over a file.
    #[arg(long = "kafka-option-file", env = "KAFKA_OPTION_FILE", value_name = "PATH",
          value_parser = read_option_file)]
    pub option_files: Vec<OptionFile>,
}

#[cfg(feature = "kafka")]
impl KafkaFlags {
    /// The settings: the files' options first, then --kafka-option's, so a later one wins.
    pub fn settings(&self) -> crate::kafka::KafkaSettings {
        let from_files = self.option_files.iter().flat_map(|f| f.options.iter());
        crate::kafka::KafkaSettings {
            brokers: self.brokers.clone(),
            options: from_files.chain(&self.options).cloned().collect(),
        }
    }
}

/// The KEY=VALUE lines of a `--kafka-option-file`, read when the flags are parsed. Its
/// `Debug` shows the keys only: values may be secrets.
#[cfg(feature = "kafka")]
#[derive(Clone)]
pub struct OptionFile {
    pub path: PathBuf,
    pub options: Vec<(String, String)>,
}

#[cfg(feature = "kafka")]
impl std::fmt::Debug for OptionFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OptionFile")
            .field("path", &self.path)
            .field("keys", &keys)
            .finish()
    }
}

/// Reads an option file; an error names the file and line, never a value.
#[cfg(feature = "kafka")]
pub fn read_option_file(path: &str) -> Result<OptionFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let mut options = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                options.push((k.trim().to_string(), v.trim().to_string()))
            }
            _ => return Err(format!("`{path}` line {}: expected KEY=VALUE", n + 1)),
        }
    }
    Ok(OptionFile {
        path: path.into(),
        options,
    })
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

    #[cfg(feature = "kafka")]
    #[test]
    fn option_files_come_first_and_never_show_their_values() {
        #[derive(Debug, Parser)]
        struct Kafka {
            #[command(flatten)]
            kafka: KafkaFlags,
        }
        let dir = std::env::temp_dir().join(format!("flags-opt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kafka.properties");
        std::fs::write(
            &file,
            "# SASL\nsasl.password = s3cret=x\n\nsecurity.protocol=SASL_SSL\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let cli = Kafka::try_parse_from([
            "x",
            "--kafka-option-file",
            path,
            "--kafka-option",
            "security.protocol=SSL",
        ])
        .unwrap();
        let options = cli.kafka.settings().options;
        assert_eq!(options[0], ("sasl.password".into(), "s3cret=x".into()));
        assert_eq!(options.last().unwrap().1, "SSL", "--kafka-option wins");
        assert!(!format!("{cli:?}", cli = cli.kafka).contains("s3cret"));

        std::fs::write(&file, "ok=1\nsasl.password s3cret\n").unwrap();
        let err = Kafka::try_parse_from(["x", "--kafka-option-file", path])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_values_need_a_key() {
        assert_eq!(parse_key_value(" a = b "), Ok(("a".into(), "b".into())));
        assert!(parse_key_value("nokey").is_err());
        assert!(parse_key_value("=v").is_err());
    }
}
