//! The tracing subscriber of the `sink` binary: `RUST_LOG` filter, `info` by default, to stderr.
//!
//! Lives in the library so the benchmark logs the same way as the binary.

use std::io::IsTerminal as _;

/// Installs the global subscriber; a second call is a no-op.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
