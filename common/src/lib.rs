//! Shared pieces of the trading-signal pipeline.
//!
//! Every service speaks the same two records and runs the same plumbing, so they live here once:
//!
//! ## Layout
//! - [`records`]: the `Trade` (on `market.trades`) and `Signal` (on `signals`) contracts, and the
//!   Spark DDL schema of a trade derived from the same definition.
//! - [`kafka`]: broker settings shared by producers and consumers, with a raw-option escape hatch.
//! - [`metrics`]: named counters and gauges, logged periodically and served as Prometheus text.
//! - [`backoff`]: exponential backoff with jitter for reconnect loops.
//! - [`shutdown`]: a broadcast stop signal tied to Ctrl-C / SIGTERM.
//! - `testing` (feature `testing`): helpers for integration tests against the real stack.

pub mod backoff;
pub mod kafka;
pub mod metrics;
pub mod records;
pub mod shutdown;
#[cfg(feature = "testing")]
pub mod testing;

pub use records::{Action, Side, Signal, Trade};
