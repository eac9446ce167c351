//! The last hop of the pipeline: trading signals from the Kafka topic `signals` to the system
//! that trades, over TCP, without losing one while that system restarts or the network breaks;
//! and the receiving end, for demos and tests.
//!
//! Both halves live in one crate because they share the line protocol (one JSON signal per
//! line, acknowledged by its id) and the TLS setup, and the tests of one need the other.
//!
//! ## Layout
//! - [`forward`]: `sink forward`, Kafka consumer group -> TCP, offsets committed only after a
//!   line was written (or acknowledged), reconnecting with backoff.
//! - [`receive`]: `sink receive`, a TCP server that prints, de-duplicates, acknowledges and
//!   appends signals; usable as a library with an observable received set.
//! - [`line`](mod@line): turning a Kafka record into a signal and a signal into a line, and the filters.
//! - [`tls`]: rustls client and server configurations from PEM files.
//! - [`logging`]: the tracing subscriber both commands install.
//! - [`metrics`]: the metrics flags both commands share.

pub mod forward;
pub mod line;
pub mod logging;
pub mod metrics;
pub mod receive;
pub mod tls;
