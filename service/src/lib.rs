//! Service plumbing the binaries share, so every one behaves the same way.
//!
//! ## Layout
//! - [`flags`]: the shared flags (`--log`, `--metrics-*`, `--brokers`, `--kafka-option`) and
//!   their conversion into the settings below. The only clap in the libraries' reach.
//! - [`kafka`] (feature `kafka`): broker settings shared by producers and consumers, with a
//!   raw-option escape hatch that refuses keys the service owns.
//! - [`metrics`]: named counters and gauges, logged periodically and served as Prometheus text.
//! - [`bad_input`]: counters of skipped input by kind, with rate-limited warnings.
//! - [`ratelimit`]: one log line per interval, counting the rest.
//! - [`logging`]: the tracing subscriber.
//! - [`backoff`]: exponential backoff with jitter for reconnect loops.
//! - [`shutdown`]: a broadcast stop signal tied to Ctrl-C / SIGTERM.
//! - [`exit`]: exit codes and how an error is printed.

pub mod backoff;
pub mod bad_input;
pub mod exit;
pub mod flags;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod logging;
pub mod metrics;
pub mod ratelimit;
pub mod shutdown;
