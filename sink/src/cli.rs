//! The `sink` binary's flags: what clap parses (every flag also reads an environment variable),
//! checked without I/O and turned into the library's settings.
//!
//! Two stages, as in `main`: [`Command::task`] converts the flags and validates the settings,
//! reporting every problem at once, each naming its flag, before anything connects. The
//! defaults shown in `--help` are read from the settings' own [`Default`]s, so there is one
//! place for each. The shared flags (`--log`, `--metrics-*`, `--brokers`, `--kafka-option`)
//! come from `service::flags`, the same in every binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use contract::Action;
use service::exit::InvalidSettings;
use service::flags::{KafkaFlags, LogFlags, MetricsFlags};
use sink::dashboard::DashboardSettings;
use sink::forward::{ForwardSettings, StartFrom};
use sink::receive::{Output, ReceiveSettings};
use sink::{Filter, Format};

/// Trading signals from Kafka to a TCP endpoint, at least once; the receiving end; and the
/// live web dashboard.
///
/// Every flag also reads an environment variable (shown in brackets); flags win.
///
/// Exit codes: 0 after a clean stop (Ctrl-C / SIGTERM), 1 when it cannot start or fails,
/// 2 for invalid flags or settings (every problem listed, nothing started), 7 when Kafka
/// refused the forwarder's login or TLS failed verification (not retried; a broker that is
/// down is).
#[derive(Debug, Parser)]
#[command(name = "sink", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) log: LogFlags,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Consume the signals topic and write each signal as one line to a TCP endpoint,
    /// committing Kafka offsets only once a line was written (or acknowledged, with --ack).
    ///
    /// The forwarder sets these librdkafka keys itself and refuses them in --kafka-option:
    /// group.id, enable.auto.commit, enable.auto.offset.store, auto.offset.reset,
    /// statistics.interval.ms.
    Forward(Box<ForwardFlags>),
    /// Listen for forwarders: print, de-duplicate, acknowledge and append the signals.
    Receive(ReceiveFlags),
    /// Serve a live web page of the strategy's bars, indicators and BUY/SELL signals, with the
    /// pipeline's health, read from the signals topic (run the strategy with
    /// `rules.every_bar = true` so every bar is on the topic). Open http://127.0.0.1:8050/.
    ///
    /// The dashboard sets these librdkafka keys itself and refuses them in --kafka-option:
    /// group.id, enable.auto.commit, statistics.interval.ms.
    Dashboard(Box<DashboardFlags>),
}

/// What `main` runs, with settings that passed validation.
#[derive(Debug)]
pub(crate) enum Task {
    Forward(ForwardSettings),
    /// `sink forward --check`.
    Check(ForwardSettings),
    Receive(ReceiveSettings),
    Dashboard(DashboardSettings),
}

impl Command {
    /// The settings of the chosen command, validated; every problem at once.
    pub(crate) fn task(self) -> Result<Task, InvalidSettings> {
        match self {
            Command::Forward(flags) => {
                let check = flags.check;
                let settings = flags.settings();
                settings.validate()?;
                Ok(if check {
                    Task::Check(settings)
                } else {
                    Task::Forward(settings)
                })
            }
            Command::Receive(flags) => {
                let settings = flags.settings();
                settings.validate()?;
                Ok(Task::Receive(settings))
            }
            Command::Dashboard(flags) => {
                let settings = flags.settings();
                settings.validate()?;
                Ok(Task::Dashboard(settings))
            }
        }
    }
}

/// A clap value enum that mirrors a library enum variant for variant (the library has no
/// clap), converting both ways: flags into settings, and the settings' defaults into the
/// flags' defaults.
macro_rules! mirror {
    ($flag:ident = $lib:ident { $($(#[$doc:meta])* $variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
        pub(crate) enum $flag {
            $($(#[$doc])* $variant),+
        }

        impl From<$flag> for $lib {
            fn from(flag: $flag) -> Self {
                match flag {
                    $($flag::$variant => $lib::$variant),+
                }
            }
        }

        impl From<$lib> for $flag {
            fn from(value: $lib) -> Self {
                match value {
                    $($lib::$variant => $flag::$variant),+
                }
            }
        }
    };
}

mirror!(
    FormatFlag = Format {
        /// The signal's JSON object, one per line.
        Ndjson,
        /// `bar_end ACTION symbol strategy close=.. reasons=a,b id=..`, for people and plain tools.
        Text,
    }
);

mirror!(
    StartFromFlag = StartFrom {
        /// The oldest record still in the topic.
        Earliest,
        /// Only records produced after the group joined.
        Latest,
    }
);

mirror!(
    OutputFlag = Output {
        /// One readable line per signal.
        Text,
        /// The signal's JSON object, one per line.
        Ndjson,
        /// Nothing (counts and metrics only).
        None,
    }
);

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn forward_default() -> ForwardSettings {
    ForwardSettings::default()
}

/// `--ack` / `--no-ack`, the same on both ends (which must agree).
#[derive(Debug, Clone, Args)]
pub(crate) struct AckFlags {
    /// Acknowledgement mode, on by default (both ends must agree): the receiver answers each
    /// signal line with its id once the signal is written, and the forwarder commits a record
    /// only once its line is acknowledged, sending unacknowledged lines again. `--ack=false`
    /// or --no-ack turns it off.
    #[arg(long, env = "SINK_ACK", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value_t = forward_default().ack, default_missing_value = "true",
          action = ArgAction::Set, value_parser = BoolishValueParser::new(),
          overrides_with = "no_ack")]
    ack: bool,

    /// No acknowledgements (same as --ack=false): a line counts as delivered once it is in the
    /// socket buffer, so what the buffers held when a connection broke may be lost beyond
    /// what --replay-bytes re-sends. See the README's delivery guarantees.
    #[arg(long, overrides_with = "ack")]
    no_ack: bool,
}

impl AckFlags {
    fn on(&self) -> bool {
        self.ack && !self.no_ack
    }
}

/// `sink forward`: each flag sets the [`ForwardSettings`] field of the same name.
#[derive(Debug, Clone, Args)]
pub(crate) struct ForwardFlags {
    #[command(flatten)]
    kafka: KafkaFlags,

    /// Topic to read signals from.
    #[arg(long, env = "SINK_TOPIC", default_value_t = forward_default().topic)]
    topic: String,

    /// Kafka consumer group; its committed offsets are the forwarder's position.
    #[arg(long, env = "SINK_GROUP_ID", default_value_t = forward_default().group_id)]
    group_id: String,

    /// Where a group without committed offsets starts.
    #[arg(long, env = "SINK_START_FROM", value_enum,
          default_value_t = forward_default().start_from.into())]
    start_from: StartFromFlag,

    /// The TCP endpoint to write signals to.
    #[arg(long, env = "SINK_ENDPOINT", value_name = "HOST:PORT")]
    endpoint: String,

    /// Use TLS, trusting the CA certificate(s) in this PEM file.
    #[arg(long, env = "SINK_TLS_CA", value_name = "FILE")]
    tls_ca: Option<PathBuf>,

    /// Name to verify in the server's certificate. Default: the host part of --endpoint.
    #[arg(long, env = "SINK_TLS_SERVER_NAME", requires = "tls_ca")]
    tls_server_name: Option<String>,

    /// Mutual TLS: present this PEM certificate chain to the receiver (requires --tls-key and
    /// --tls-ca), for a receiver started with --tls-client-ca.
    #[arg(long = "tls-cert", env = "SINK_TLS_CERT", requires_all = ["forward_tls_key", "tls_ca"],
          value_name = "FILE")]
    forward_tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(
        long = "tls-key",
        env = "SINK_TLS_KEY",
        requires = "forward_tls_cert",
        value_name = "FILE"
    )]
    forward_tls_key: Option<PathBuf>,

    #[command(flatten)]
    ack: AckFlags,

    /// With --ack: a line not acknowledged this long after it was written is taken as lost;
    /// the connection is reopened and every unacknowledged line sent again.
    #[arg(long, env = "SINK_ACK_TIMEOUT_MS", default_value_t = ms(forward_default().ack_timeout))]
    ack_timeout_ms: u64,

    /// With acknowledgements: a line whose acknowledgement timed out this many times while the
    /// receiver was answering (other lines acknowledged, or it alone waiting) is given up:
    /// copied to --dead-letter-topic and committed past or, without one, the forwarder stops
    /// with an error (exit 1). 0: never give up.
    #[arg(long, env = "SINK_ACK_TRIES", default_value_t = forward_default().ack_tries)]
    ack_tries: u32,

    /// Line format on the wire.
    #[arg(long, env = "SINK_FORMAT", value_enum,
          default_value_t = forward_default().format.into())]
    format: FormatFlag,

    /// Forward only these symbols (comma-separated or repeated), e.g. `BTC/USD,ETH/USD`.
    /// Default: all.
    #[arg(
        long = "symbol",
        env = "SINK_SYMBOLS",
        value_delimiter = ',',
        value_name = "SYMBOL"
    )]
    symbols: Vec<String>,

    /// Forward only these actions: BUY, SELL, HOLD (comma-separated or repeated, any case).
    /// Default: all.
    #[arg(long = "action", env = "SINK_ACTIONS", value_delimiter = ',', value_name = "ACTION",
          value_parser = parse_action)]
    actions: Vec<Action>,

    /// Forward only these strategies (comma-separated or repeated). Default: all.
    #[arg(
        long = "strategy",
        env = "SINK_STRATEGIES",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    strategies: Vec<String>,

    /// Produce records that are not signals (value and original topic/partition/offset in
    /// headers) to this topic before skipping them. Default: only count and log them.
    #[arg(long, env = "SINK_DEAD_LETTER_TOPIC", value_name = "TOPIC")]
    dead_letter_topic: Option<String>,

    /// At most this many records consumed but not yet committable (written, or acknowledged
    /// with --ack); consumption pauses at the limit. Bounds memory whatever the backlog.
    #[arg(long, env = "SINK_MAX_IN_FLIGHT", default_value_t = forward_default().max_in_flight)]
    max_in_flight: usize,

    /// At most this many bytes of lines held for those records.
    #[arg(long, env = "SINK_MAX_IN_FLIGHT_BYTES",
          default_value_t = forward_default().max_in_flight_bytes)]
    max_in_flight_bytes: usize,

    /// Without --ack: bytes of the most recently written lines kept and sent again after a
    /// reconnect, to cover lines that were still in socket buffers when the connection broke
    /// (0: none). Keep it above the peer's and our TCP buffer sizes.
    #[arg(long, env = "SINK_REPLAY_BYTES", default_value_t = forward_default().replay_bytes)]
    replay_bytes: usize,

    /// At most this many records per turn of the loop (and so lines per write).
    #[arg(long, env = "SINK_BATCH_LINES", default_value_t = forward_default().batch_lines)]
    batch_lines: usize,

    /// Commit delivered offsets at most this often (and always on shutdown).
    #[arg(long, env = "SINK_COMMIT_INTERVAL_MS",
          default_value_t = ms(forward_default().commit_interval))]
    commit_interval_ms: u64,

    /// Give up on a connection attempt after this long.
    #[arg(long, env = "SINK_CONNECT_TIMEOUT_MS",
          default_value_t = ms(forward_default().connect_timeout))]
    connect_timeout_ms: u64,

    /// A write that does not complete in this long (peer not reading) breaks the connection.
    #[arg(long, env = "SINK_WRITE_TIMEOUT_MS",
          default_value_t = ms(forward_default().write_timeout))]
    write_timeout_ms: u64,

    /// First reconnect delay; it doubles (with jitter) on every failure up to the maximum.
    #[arg(long, env = "SINK_BACKOFF_INITIAL_MS",
          default_value_t = ms(forward_default().backoff_initial))]
    backoff_initial_ms: u64,

    /// Longest reconnect delay.
    #[arg(long, env = "SINK_BACKOFF_MAX_MS", default_value_t = ms(forward_default().backoff_max))]
    backoff_max_ms: u64,

    /// A connection that stayed up this long starts the reconnect delays over when it breaks;
    /// one that broke sooner (a peer that accepts and drops) keeps them growing.
    #[arg(long, env = "SINK_HEALTHY_AFTER_MS",
          default_value_t = ms(forward_default().healthy_after))]
    healthy_after_ms: u64,

    /// On shutdown, wait at most this long for outstanding writes and acknowledgements before
    /// committing what was delivered.
    #[arg(long, env = "SINK_SHUTDOWN_TIMEOUT_MS",
          default_value_t = ms(forward_default().shutdown_timeout))]
    shutdown_timeout_ms: u64,

    /// Check the settings, reach the broker (the topic must exist) and the endpoint, then exit.
    #[arg(long)]
    check: bool,

    #[command(flatten)]
    metrics: MetricsFlags,
}

impl ForwardFlags {
    /// Every field spelled out, so a new setting cannot be forgotten here.
    fn settings(self) -> ForwardSettings {
        ForwardSettings {
            kafka: self.kafka.settings(),
            topic: self.topic,
            group_id: self.group_id,
            start_from: self.start_from.into(),
            endpoint: self.endpoint,
            tls_ca: self.tls_ca,
            tls_server_name: self.tls_server_name,
            tls_cert: self.forward_tls_cert,
            tls_key: self.forward_tls_key,
            ack: self.ack.on(),
            ack_timeout: Duration::from_millis(self.ack_timeout_ms),
            ack_tries: self.ack_tries,
            format: self.format.into(),
            filter: Filter {
                symbols: self.symbols,
                actions: self.actions,
                strategies: self.strategies,
            },
            dead_letter_topic: self.dead_letter_topic,
            max_in_flight: self.max_in_flight,
            max_in_flight_bytes: self.max_in_flight_bytes,
            replay_bytes: self.replay_bytes,
            batch_lines: self.batch_lines,
            commit_interval: Duration::from_millis(self.commit_interval_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            healthy_after: Duration::from_millis(self.healthy_after_ms),
            shutdown_timeout: Duration::from_millis(self.shutdown_timeout_ms),
            metrics: self.metrics.settings(),
        }
    }
}

/// `BUY`, `SELL` or `HOLD`, any case.
fn parse_action(s: &str) -> Result<Action, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_uppercase()))
        .map_err(|_| format!("unknown action `{s}`, expected BUY, SELL or HOLD"))
}

/// `sink receive`: each flag sets the [`ReceiveSettings`] field of the same name.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReceiveFlags {
    /// Address to listen on for forwarders (several connections at once).
    #[arg(long, env = "SINK_LISTEN", value_name = "HOST:PORT",
          default_value_t = ReceiveSettings::default().listen)]
    listen: SocketAddr,

    #[command(flatten)]
    ack: AckFlags,

    /// What to print to stdout for each new signal.
    #[arg(long, env = "SINK_OUTPUT", value_enum,
          default_value_t = ReceiveSettings::default().output.into())]
    output: OutputFlag,

    /// Append each new signal as one NDJSON line to this file (created if missing). The ids
    /// already in it count as seen, so duplicates are removed across restarts too.
    #[arg(long = "append", env = "SINK_APPEND_FILE", value_name = "FILE")]
    append_file: Option<PathBuf>,

    /// Sync the append file to disk after each batch, before acknowledging it: acknowledged
    /// signals then survive a power loss or an OS crash too. One disk flush per batch.
    #[arg(long, env = "SINK_FSYNC", requires = "append_file")]
    fsync: bool,

    /// How many recent signal ids to remember for de-duplication (oldest forgotten first;
    /// 0: no de-duplication).
    #[arg(long, env = "SINK_DEDUP_CAPACITY",
          default_value_t = ReceiveSettings::default().dedup_capacity)]
    dedup_capacity: usize,

    /// Serve TLS with this PEM certificate chain (requires --tls-key).
    #[arg(long, env = "SINK_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SINK_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    tls_key: Option<PathBuf>,

    /// Mutual TLS: accept only forwarders presenting a certificate signed by a CA in this PEM
    /// file (requires --tls-cert).
    #[arg(
        long,
        env = "SINK_TLS_CLIENT_CA",
        requires = "tls_cert",
        value_name = "FILE"
    )]
    tls_client_ca: Option<PathBuf>,

    /// Without TLS, accept forwarders on other machines too. Otherwise a plaintext receiver
    /// closes every connection that does not come from a loopback address.
    #[arg(long, env = "SINK_ALLOW_REMOTE_PLAINTEXT")]
    allow_remote_plaintext: bool,

    /// At most this many connections at once; more are closed at once.
    #[arg(long, env = "SINK_MAX_CONNECTIONS",
          default_value_t = ReceiveSettings::default().max_connections)]
    max_connections: usize,

    /// Close a connection that sends nothing for this many seconds (0: never).
    #[arg(long, env = "SINK_IDLE_TIMEOUT_S", value_name = "SECONDS",
          default_value_t = ReceiveSettings::default().idle_timeout.map_or(0, |d| d.as_secs()))]
    idle_timeout_s: u64,

    #[command(flatten)]
    metrics: MetricsFlags,
}

impl ReceiveFlags {
    fn settings(self) -> ReceiveSettings {
        ReceiveSettings {
            listen: self.listen,
            ack: self.ack.on(),
            output: self.output.into(),
            append_file: self.append_file,
            fsync: self.fsync,
            dedup_capacity: self.dedup_capacity,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            tls_client_ca: self.tls_client_ca,
            allow_remote_plaintext: self.allow_remote_plaintext,
            max_connections: self.max_connections,
            idle_timeout: (self.idle_timeout_s > 0)
                .then(|| Duration::from_secs(self.idle_timeout_s)),
            metrics: self.metrics.settings(),
            keep_arrivals: false,
        }
    }
}

fn dashboard_default() -> DashboardSettings {
    DashboardSettings::default()
}

/// `sink dashboard`: each flag sets the [`DashboardSettings`] field of the same name.
#[derive(Debug, Clone, Args)]
pub(crate) struct DashboardFlags {
    /// Address of the web page. The default serves this machine only; the page has no login,
    /// so think before opening it to a network.
    #[arg(long, env = "DASHBOARD_LISTEN", value_name = "HOST:PORT",
          default_value_t = dashboard_default().listen)]
    listen: SocketAddr,

    #[command(flatten)]
    kafka: KafkaFlags,

    /// The strategy's signals topic.
    #[arg(long, env = "DASHBOARD_TOPIC", default_value_t = dashboard_default().topic)]
    topic: String,

    /// Bars kept per chart (strategy and symbol) and sent to a browser when it connects; the
    /// oldest are forgotten first. Bounds the dashboard's memory.
    #[arg(long, env = "DASHBOARD_HISTORY_BARS",
          default_value_t = dashboard_default().history_bars)]
    history_bars: usize,

    /// At startup, read at most this many records back from the end of each partition to fill
    /// the history.
    #[arg(long, env = "DASHBOARD_REPLAY_RECORDS",
          default_value_t = dashboard_default().replay_records)]
    replay_records: i64,

    /// BUY/SELL signals kept for the recent-signals table.
    #[arg(long, env = "DASHBOARD_RECENT_SIGNALS",
          default_value_t = dashboard_default().recent_signals)]
    recent_signals: usize,

    /// Updates a browser may be behind before its stream is ended; it reconnects at once and
    /// starts over from a fresh snapshot (no update is skipped silently).
    #[arg(long, env = "DASHBOARD_CLIENT_QUEUE",
          default_value_t = dashboard_default().client_queue)]
    client_queue: usize,

    /// Prometheus endpoint of `ingest` (its --metrics-addr), for trades/s and reconnects,
    /// e.g. http://127.0.0.1:9464/metrics. Default: not shown.
    #[arg(long, env = "INGEST_METRICS_URL", value_name = "URL")]
    ingest_metrics_url: Option<String>,

    /// Prometheus endpoint of `sink forward`, for its lag. Default: not shown.
    #[arg(long, env = "FORWARDER_METRICS_URL", value_name = "URL")]
    forwarder_metrics_url: Option<String>,

    /// Prometheus endpoint of `sink receive`, for the signals it received. Default: not shown.
    #[arg(long, env = "RECEIVER_METRICS_URL", value_name = "URL")]
    receiver_metrics_url: Option<String>,

    /// The Spark driver UI (the Connect server's, port 4040 on the local stack), for each
    /// strategy query's batch duration, input rows/s and watermark delay (from its
    /// /metrics/json/; needs spark.sql.streaming.metricsEnabled=true). Default: not shown.
    #[arg(long, env = "SPARK_UI_URL", value_name = "URL")]
    spark_ui_url: Option<String>,

    /// How often the health strip is refreshed.
    #[arg(long, env = "DASHBOARD_HEALTH_INTERVAL_MS",
          default_value_t = ms(dashboard_default().health_interval))]
    health_interval_ms: u64,

    /// A piece with no news this long is flagged stale in the banner (bars: at least three
    /// bar intervals).
    #[arg(long, env = "DASHBOARD_STALE_AFTER_MS",
          default_value_t = ms(dashboard_default().stale_after))]
    stale_after_ms: u64,

    #[command(flatten)]
    metrics: MetricsFlags,
}

impl DashboardFlags {
    fn settings(self) -> DashboardSettings {
        DashboardSettings {
            listen: self.listen,
            kafka: self.kafka.settings(),
            topic: self.topic,
            history_bars: self.history_bars,
            replay_records: self.replay_records,
            recent_signals: self.recent_signals,
            client_queue: self.client_queue,
            ingest_metrics_url: self.ingest_metrics_url,
            forwarder_metrics_url: self.forwarder_metrics_url,
            receiver_metrics_url: self.receiver_metrics_url,
            spark_ui_url: self.spark_ui_url,
            health_interval: Duration::from_millis(self.health_interval_ms),
            stale_after: Duration::from_millis(self.stale_after_ms),
            metrics: self.metrics.settings(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn task(args: &[&str]) -> Result<Task, InvalidSettings> {
        Cli::try_parse_from(args).unwrap().command.task()
    }

    #[test]
    fn flags_are_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = task(&[
            "sink",
            "forward",
            "--endpoint",
            "nohost",
            "--max-in-flight",
            "0",
            "--backoff-initial-ms",
            "10",
            "--backoff-max-ms",
            "5",
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(err.to_string().contains("--endpoint"), "{err}");

        let ok = task(&[
            "sink",
            "forward",
            "--endpoint",
            "[::1]:9000",
            "--symbol",
            "A,B",
        ]);
        let Ok(Task::Forward(settings)) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(settings.filter.symbols, ["A", "B"]);
    }

    #[test]
    fn acknowledgements_are_on_unless_turned_off_and_the_last_flag_wins() {
        let ack = |extra: &[&str]| {
            let mut forward = vec!["sink", "forward", "--endpoint", "h:1"];
            forward.extend(extra);
            let Ok(Task::Forward(f)) = task(&forward) else {
                panic!("{forward:?}")
            };
            let mut receive = vec!["sink", "receive"];
            receive.extend(extra);
            let Ok(Task::Receive(r)) = task(&receive) else {
                panic!("{receive:?}")
            };
            assert_eq!(f.ack, r.ack, "{extra:?}");
            f.ack
        };
        assert!(ack(&[]));
        assert!(ack(&["--ack"]));
        assert!(!ack(&["--no-ack"]));
        assert!(!ack(&["--ack=false"]));
        assert!(!ack(&["--ack", "--no-ack"]));
        assert!(ack(&["--no-ack", "--ack"]));
    }

    #[test]
    fn actions_parse_in_any_case() {
        assert_eq!(parse_action("buy"), Ok(Action::Buy));
        assert!(parse_action("Sell").is_ok());
        assert!(parse_action("maybe").is_err());
    }

    /// The flags' defaults are the settings' defaults (the broker may come from the
    /// environment, so it is left out).
    #[test]
    fn flag_defaults_are_the_settings_defaults() {
        let Ok(Task::Forward(forward)) = task(&["sink", "forward", "--endpoint", "h:1"]) else {
            panic!("forward")
        };
        let expected = ForwardSettings {
            endpoint: "h:1".into(),
            kafka: forward.kafka.clone(),
            ..Default::default()
        };
        assert_eq!(forward, expected);
        let Ok(Task::Check(_)) = task(&["sink", "forward", "--endpoint", "h:1", "--check"]) else {
            panic!("check")
        };
        let Ok(Task::Receive(receive)) = task(&["sink", "receive"]) else {
            panic!("receive")
        };
        assert_eq!(receive, ReceiveSettings::default());
        // SPARK_UI_URL is exported by the stack's scripts, so it is left out too.
        let Ok(Task::Dashboard(dashboard)) = task(&["sink", "dashboard"]) else {
            panic!("dashboard")
        };
        let expected = DashboardSettings {
            kafka: dashboard.kafka.clone(),
            spark_ui_url: dashboard.spark_ui_url.clone(),
            ..Default::default()
        };
        assert_eq!(dashboard, expected);
    }
}
