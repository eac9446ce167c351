//! What every source feeds, on the way to Kafka: the same rules for all of them.
//!
//! - `emit`: turns trades, ticker updates and bad input into Kafka records: de-duplication
//!   (`dedup`) by symbol and trade id, keys and timestamps, bad input counted and
//!   dead-lettered.
//! - `resume`: after a restart, primes the de-duplication from the tail of the trades topic.
//! - `output`: the bounded queue (backpressure) and the idempotent acks=all producer behind it;
//!   [`OutputSettings`] are its settings.

mod dedup;
pub(crate) mod emit;
pub(crate) mod output;
pub(crate) mod resume;

pub(crate) use output::Output;
pub use output::{Closed, OutputError, OutputSettings, Topics, COMPRESSIONS, OWNED_OPTIONS};
