//! The flags of `sink receive`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::line::Format;
use crate::metrics::MetricsArgs;

/// What the receiver prints for each new (not duplicate) signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// One readable line per signal.
    Text,
    /// The signal's JSON object, one per line.
    Ndjson,
    /// Nothing (counts and metrics only).
    None,
}

impl Output {
    pub fn format(self) -> Option<Format> {
        match self {
            Output::Text => Some(Format::Text),
            Output::Ndjson => Some(Format::Ndjson),
            Output::None => None,
        }
    }
}

/// `sink receive` settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ReceiveConfig {
    /// Address to listen on for forwarders (several connections at once).
    #[arg(
        long,
        env = "SINK_LISTEN",
        default_value = "127.0.0.1:9000",
        value_name = "HOST:PORT"
    )]
    pub listen: SocketAddr,

    /// Acknowledgement mode: answer every line that is a signal (duplicates included) with the
    /// signal's id on its own line, once it has been printed and appended. Use with
    /// `sink forward --ack`.
    #[arg(long, env = "SINK_ACK")]
    pub ack: bool,

    /// What to print to stdout for each new signal.
    #[arg(long, env = "SINK_OUTPUT", value_enum, default_value = "text")]
    pub output: Output,

    /// Append each new signal as one NDJSON line to this file (created if missing). The ids
    /// already in it count as seen, so duplicates are removed across restarts too.
    #[arg(long = "append", env = "SINK_APPEND_FILE", value_name = "FILE")]
    pub append_file: Option<PathBuf>,

    /// How many recent signal ids to remember for de-duplication (oldest forgotten first;
    /// 0: no de-duplication).
    #[arg(long, env = "SINK_DEDUP_CAPACITY", default_value_t = 1_000_000)]
    pub dedup_capacity: usize,

    /// Serve TLS with this PEM certificate chain (requires --tls-key).
    #[arg(long, env = "SINK_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SINK_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// Library use only: remember every new signal's id, symbol and arrival time, readable
    /// through [`super::Received::arrivals`] (tests and benchmarks).
    #[arg(skip)]
    pub keep_arrivals: bool,
}

impl ReceiveConfig {
    /// Defaults for library use: listen on `listen`, print nothing, log no metrics.
    pub fn quiet(listen: SocketAddr) -> Self {
        Self {
            listen,
            ack: false,
            output: Output::None,
            append_file: None,
            dedup_capacity: 1_000_000,
            tls_cert: None,
            tls_key: None,
            metrics: MetricsArgs {
                metrics_addr: None,
                metrics_log_interval_s: 0,
            },
            keep_arrivals: false,
        }
    }
}
