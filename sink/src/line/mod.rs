//! What one Kafka record becomes on the wire, shared by the forwarder (which writes lines) and
//! the receiver (which reads them back and prints them).
//!
//! - [`decode`](mod@decode): a record's value -> a [`contract::Signal`], or the kind of problem
//!   that makes it skipped, and the `skipped_total{kind}` counters of such input.
//! - [`filter`]: the user's symbol / action / strategy selection.
//! - [`format`](mod@format): a signal -> one NDJSON or compact text line.

pub(crate) mod decode;
pub(crate) mod filter;
pub(crate) mod format;

pub(crate) use decode::{decode, skipped, Skipped};
pub use filter::Filter;
pub use format::Format;
