//! What one Kafka record becomes on the wire, shared by the forwarder (which writes lines) and
//! the receiver (which reads them back and prints them).
//!
//! - [`decode`](mod@decode): a record's value -> a [`common::Signal`], or the kind of problem that makes it
//!   skipped.
//! - [`filter`]: the user's symbol / action / strategy selection.
//! - [`format`](mod@format): a signal -> one NDJSON or compact text line.
//! - [`skipped`]: counting and rate-limited logging of input that is not a signal.

pub mod decode;
pub mod filter;
pub mod format;
pub mod skipped;

pub use decode::{decode, Invalid, InvalidKind};
pub use filter::Filter;
pub use format::Format;
pub use skipped::Skipped;
