//! The contract of the trading-signal pipeline: the records that cross Kafka.
//!
//! Every part speaks these two records, so they are defined once, here, in a crate with no
//! service dependencies (no Kafka client, no runtime): the Spark CLI compiles only this.
//!
//! ## Layout
//! - [`records`]: the `Trade` (on `market.trades`) and `Signal` (on `signals`) records, and the
//!   Spark DDL schema of a trade derived from the same definition.

pub mod records;

pub use records::{Action, Indicators, Side, Signal, Trade, TRADE_SPARK_SCHEMA};
