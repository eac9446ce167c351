//! What every source feeds, on the way to Kafka: the same rules for all of them.
//!
//! - `emit`: turns trades, ticker updates and bad input into Kafka records: de-duplication
//!   (`dedup`) by symbol and trade id, keys and timestamps, bad input counted and
//!   dead-lettered.
//! - `resume`: after a restart, primes the de-duplication from the tail of the trades topic.
//! - `topic`: a history load's topic keeps what it is given (created with `retention.ms=-1`).
//! - `output`: the bounded queue (backpressure) and the idempotent acks=all producer behind it;
//!   [`OutputSettings`] are its settings.

mod dedup;
pub(crate) mod emit;
pub(crate) mod output;
pub(crate) mod resume;
pub mod topic;

pub(crate) use output::Output;
pub use output::{Closed, OutputError, OutputSettings, Topics, COMPRESSIONS, OWNED_OPTIONS};
