//! What `sink receive` is told: plain settings with their defaults.
//!
//! The `sink` binary fills these from its flags (`src/cli.rs`); tests, benchmarks and e2e
//! start from [`ReceiveSettings::quiet`] or [`ReceiveSettings::default`] with struct-update
//! syntax. Each field is the flag of the same name (`append_file` is `--append`).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use service::exit::InvalidSettings;
use service::metrics::MetricsSettings;

use crate::line::Format;

/// Where `sink receive` listens unless told otherwise, and so where `sink forward` writes.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9000));

/// What the receiver prints for each new (not duplicate) signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// One readable line per signal.
    Text,
    /// The signal's JSON object, one per line.
    Ndjson,
    /// Nothing (counts and metrics only).
    None,
}

impl Output {
    /// The line format printed, if any.
    pub(crate) fn format(self) -> Option<Format> {
        match self {
            Output::Text => Some(Format::Text),
            Output::Ndjson => Some(Format::Ndjson),
            Output::None => None,
        }
    }
}

/// `sink receive` settings. [`Default`] holds every default (the binary's flags show them).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiveSettings {
    /// Address to listen on for forwarders (several connections at once); port 0 picks a free
    /// one, see [`super::Receiver::local_addr`].
    pub listen: SocketAddr,
    /// Acknowledgement mode (the default): answer every line that is a signal (duplicates
    /// included) with the signal's id on its own line, once it has been printed and appended
    /// (and synced, with `fsync`). A batch whose append fails is not acknowledged, and its ids
    /// are not remembered. Use with the forwarder's `ack`.
    pub ack: bool,
    /// What to print to stdout for each new signal.
    pub output: Output,
    /// Append each new signal as one NDJSON line to this file (created if missing). The ids
    /// already in it count as seen, so duplicates are removed across restarts too.
    pub append_file: Option<PathBuf>,
    /// Sync the append file to disk (`fdatasync`) after each batch, before acknowledging it:
    /// an acknowledged signal then survives a power loss or an OS crash, not only a crash of
    /// the receiver. Costs one disk flush per batch. Needs `append_file`.
    pub fsync: bool,
    /// How many recent signal ids to remember for de-duplication (oldest forgotten first;
    /// 0: no de-duplication).
    pub dedup_capacity: usize,
    /// Serve TLS with this PEM certificate chain (together with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: accept only clients presenting a certificate signed by a CA in this PEM
    /// file (needs `tls_cert`). A client without one, or with one from another CA, fails the
    /// handshake.
    pub tls_client_ca: Option<PathBuf>,
    /// Without TLS, accept connections from other machines too. Off: a plaintext receiver
    /// closes every connection that does not come from a loopback address, since anyone on
    /// the network could otherwise read and forge signals.
    pub allow_remote_plaintext: bool,
    /// At most this many connections at once; one more is closed at once (and counted,
    /// `connections_refused_total`).
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (a forwarder with nothing to
    /// send connects again when it has); `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Where the receiver's metrics are served and how often they are logged.
    pub metrics: MetricsSettings,
    /// Remember every new signal's id, symbol and arrival time, readable through
    /// [`super::Received::arrivals`] (tests and benchmarks; memory grows with every signal).
    pub keep_arrivals: bool,
}

impl Default for ReceiveSettings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            ack: true,
            output: Output::Text,
            append_file: None,
            fsync: false,
            dedup_capacity: 1_000_000,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            allow_remote_plaintext: false,
            max_connections: 64,
            idle_timeout: Some(Duration::from_secs(600)),
            metrics: MetricsSettings::default(),
            keep_arrivals: false,
        }
    }
}

impl ReceiveSettings {
    /// For library use: listen on `listen`, print nothing, neither serve nor log metrics.
    pub fn quiet(listen: SocketAddr) -> Self {
        Self {
            listen,
            output: Output::None,
            metrics: MetricsSettings::off(),
            ..Default::default()
        }
    }

    /// Checks what can be checked without I/O; reports every problem at once, each naming its
    /// flag.
    pub fn validate(&self) -> Result<(), InvalidSettings> {
        let mut problems = Vec::new();
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            problems.push("--tls-cert and --tls-key go together".into());
        }
        if self.fsync && self.append_file.is_none() {
            problems.push("--fsync needs --append".into());
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            problems.push("--tls-client-ca needs --tls-cert and --tls-key".into());
        }
        if self.max_connections == 0 {
            problems.push("--max-connections must be at least 1".into());
        }
        InvalidSettings::check(problems, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_needs_both_files() {
        ReceiveSettings::default().validate().unwrap();
        let half = ReceiveSettings {
            tls_cert: Some("cert.pem".into()),
            ..ReceiveSettings::quiet(DEFAULT_LISTEN)
        };
        let err = half.validate().unwrap_err();
        assert!(err.to_string().contains("--tls-key"), "{err}");
    }
}
