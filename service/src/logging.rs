//! Logging setup, the same for every binary: tracing to stderr, filtered by `--log` (or
//! `RUST_LOG`), colours only on a terminal. Stdout stays free for what a command prints.

use std::io::IsTerminal as _;

/// The filter when none is given.
pub const DEFAULT_FILTER: &str = "info";

/// Installs the global subscriber with `filter` in tracing's EnvFilter syntax (e.g. `info` or
/// `info,ingest=debug`); a filter that does not parse falls back to [`DEFAULT_FILTER`] with a
/// warning. A second call is a no-op, so tests and benchmarks may call it freely.
pub fn init(filter: &str) {
    let (env_filter, bad) = match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(f) => (f, None),
        Err(e) => (tracing_subscriber::EnvFilter::new(DEFAULT_FILTER), Some(e)),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .is_ok();
    if let (true, Some(e)) = (installed, bad) {
        tracing::warn!(filter, error = %e, "log filter does not parse; logging at `info`");
    }
}
