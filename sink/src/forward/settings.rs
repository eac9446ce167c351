//! What `sink forward` is told: plain settings with their defaults, and their validation
//! before anything connects.
//!
//! The `sink` binary fills these from its flags (`src/cli.rs`); tests, benchmarks and e2e
//! build them with struct-update syntax from [`ForwardSettings::default`]. Each field is the
//! flag of the same name (`max_in_flight` is `--max-in-flight`; durations are `--..-ms`), and
//! validation names problems by flag.

use std::path::PathBuf;
use std::time::Duration;

use service::exit::InvalidSettings;
use service::kafka::KafkaSettings;
use service::metrics::MetricsSettings;

use super::consumer::OWNED_KEYS;
use crate::line::{Filter, Format};

/// `sink forward` settings. [`Default`] holds every default (the binary's flags show them).
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardSettings {
    /// How to reach the brokers. The librdkafka keys the forwarder sets itself (`group.id`,
    /// `enable.auto.commit`, `enable.auto.offset.store`, `auto.offset.reset`,
    /// `statistics.interval.ms`) are refused in its options.
    pub kafka: KafkaSettings,
    /// Topic to read signals from.
    pub topic: String,
    /// Kafka consumer group; its committed offsets are the forwarder's position.
    pub group_id: String,
    /// Where a group without committed offsets starts.
    pub start_from: StartFrom,
    /// The TCP endpoint to write signals to, `HOST:PORT` (numeric port). Default: where
    /// `sink receive` listens by default, [`crate::receive::DEFAULT_LISTEN`].
    pub endpoint: String,
    /// Use TLS, trusting the CA certificate(s) in this PEM file; `None`: plain TCP.
    pub tls_ca: Option<PathBuf>,
    /// Name to verify in the server's certificate (needs `tls_ca`); `None`: the host part of
    /// `endpoint`.
    pub tls_server_name: Option<String>,
    /// Mutual TLS: present this PEM certificate chain (with `tls_key`) to a receiver that
    /// requires client certificates (needs `tls_ca`).
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Acknowledgement mode (the default): the receiver answers each line with the signal's
    /// id once it has written the signal, and offsets are committed only once acknowledged;
    /// unacknowledged lines are sent again. Off: a line counts as delivered once it is in the
    /// socket buffer (see `replay_bytes` for what covers a broken connection).
    pub ack: bool,
    /// With `ack`: a line not acknowledged this long after it was written is taken as lost;
    /// the connection is reopened and every unacknowledged line sent again.
    pub ack_timeout: Duration,
    /// With `ack`: a line whose acknowledgement timed out this many times while the receiver
    /// was answering (it acknowledged other lines on the same connection, or this line was the
    /// only one waiting) is given up: copied to `dead_letter_topic` and committed past, or,
    /// without a dead-letter topic, the forwarder stops with an error (exit 1) rather than
    /// hold every later commit of the partition back forever. 0: never give up.
    pub ack_tries: u32,
    /// Line format on the wire.
    pub format: Format,
    /// Which signals to forward (the others are committed without being sent).
    pub filter: Filter,
    /// Produce records that are not signals (value and original topic/partition/offset in
    /// headers) to this topic before skipping them; `None`: only count and log them.
    pub dead_letter_topic: Option<String>,
    /// At most this many records consumed but not yet committable (written, or acknowledged
    /// with `ack`); consumption pauses at the limit. Bounds memory whatever the backlog.
    pub max_in_flight: usize,
    /// At most this many bytes of lines held for those records.
    pub max_in_flight_bytes: usize,
    /// Without `ack`: bytes of the most recently written lines kept and sent again after a
    /// reconnect, to cover lines that were still in socket buffers when the connection broke
    /// (0: none). Keep it above the peer's and our TCP buffer sizes.
    pub replay_bytes: usize,
    /// At most this many records per turn of the loop (and so lines per write).
    pub batch_lines: usize,
    /// Commit delivered offsets at most this often (and always on shutdown).
    pub commit_interval: Duration,
    /// Give up on a connection attempt (TCP and TLS handshake) after this long.
    pub connect_timeout: Duration,
    /// A write that does not complete in this long (peer not reading) breaks the connection.
    pub write_timeout: Duration,
    /// First reconnect delay; it doubles (with jitter) on every failure up to the maximum.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// A connection that stayed up this long starts the reconnect delays over from
    /// `backoff_initial` when it breaks; one that broke sooner (a peer that accepts and then
    /// drops) keeps them growing.
    pub healthy_after: Duration,
    /// On shutdown, wait at most this long for outstanding writes and acknowledgements before
    /// committing what was delivered.
    pub shutdown_timeout: Duration,
    /// Where the forwarder's metrics are served and how often they are logged.
    pub metrics: MetricsSettings,
}

impl Default for ForwardSettings {
    fn default() -> Self {
        Self {
            kafka: KafkaSettings::default(),
            topic: "signals".into(),
            group_id: "sink".into(),
            start_from: StartFrom::Earliest,
            endpoint: crate::receive::DEFAULT_LISTEN.to_string(),
            tls_ca: None,
            tls_server_name: None,
            tls_cert: None,
            tls_key: None,
            ack: true,
            ack_timeout: Duration::from_secs(10),
            ack_tries: 5,
            format: Format::Ndjson,
            filter: Filter::default(),
            dead_letter_topic: None,
            max_in_flight: 20_000,
            max_in_flight_bytes: 32 << 20,
            replay_bytes: 16 << 20,
            batch_lines: 2048,
            commit_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            healthy_after: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(5),
            metrics: MetricsSettings::default(),
        }
    }
}

/// Where a consumer group without committed offsets starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest record still in the topic.
    Earliest,
    /// Only records produced after the group joined.
    Latest,
}

impl StartFrom {
    /// librdkafka's `auto.offset.reset` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        }
    }
}

impl ForwardSettings {
    /// Checks what can be checked without I/O; reports every problem at once, each naming its
    /// flag.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let mut problems = Vec::new();
        let mut positive = |name: &str, zero: bool| {
            if zero {
                problems.push(format!("--{name} must be greater than 0"));
            }
        };
        positive("max-in-flight", self.max_in_flight == 0);
        positive("max-in-flight-bytes", self.max_in_flight_bytes == 0);
        positive("batch-lines", self.batch_lines == 0);
        positive("ack-timeout-ms", self.ack_timeout.is_zero());
        positive("connect-timeout-ms", self.connect_timeout.is_zero());
        positive("write-timeout-ms", self.write_timeout.is_zero());
        positive("backoff-initial-ms", self.backoff_initial.is_zero());
        if self.backoff_max < self.backoff_initial {
            problems.push("--backoff-max-ms must be at least --backoff-initial-ms".into());
        }
        if self.endpoint_host().is_none() {
            problems.push(format!(
                "--endpoint `{}` is not HOST:PORT with a numeric port",
                self.endpoint
            ));
        }
        if self.tls_server_name.is_some() && self.tls_ca.is_none() {
            problems.push("--tls-server-name needs --tls-ca".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            problems.push("--tls-cert and --tls-key go together".into());
        }
        if self.tls_cert.is_some() && self.tls_ca.is_none() {
            problems.push("--tls-cert needs --tls-ca".into());
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
        if let Err(e) = self.kafka.check_owned(OWNED_KEYS) {
            problems.push(e.to_string());
        }
        InvalidSettings::check(problems, ())
    }

    /// The host part of `endpoint` (brackets of an IPv6 literal removed).
    pub(crate) fn endpoint_host(&self) -> Option<&str> {
        let (host, port) = self.endpoint.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty()).then_some(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = ForwardSettings {
            endpoint: "nohost".into(),
            max_in_flight: 0,
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(5),
            ..Default::default()
        };
        let err = bad.validate().unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(err.to_string().contains("--endpoint"), "{err}");

        let ok = ForwardSettings {
            endpoint: "[::1]:9000".into(),
            ..Default::default()
        };
        ok.validate().unwrap();
        assert_eq!(ok.endpoint_host(), Some("::1"));
        ForwardSettings::default().validate().unwrap();
    }

    #[test]
    fn options_the_forwarder_owns_are_refused() {
        let settings = ForwardSettings {
            kafka: KafkaSettings {
                options: vec![("group.id".into(), "x".into())],
                ..Default::default()
            },
            ..Default::default()
        };
        let err = settings.validate().unwrap_err();
        assert!(err.to_string().contains("--group-id"), "{err}");
    }
}
