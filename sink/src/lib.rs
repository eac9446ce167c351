//! The last hop of the pipeline: trading signals from the Kafka topic `signals` to the system
//! that trades, over TCP, without losing one while that system restarts or the network breaks;
//! and the receiving end, for demos and tests; and the live dashboard, one more reader of the
//! signals topic.
//!
//! The forwarder and the receiver live in one crate because they share the line protocol (one JSON signal per
//! line, acknowledged by its id) and the TLS setup, and the tests of one need the other.
//! Each command takes plain settings ([`forward::ForwardSettings`],
//! [`receive::ReceiveSettings`], [`dashboard::DashboardSettings`]) with defaults; the `sink` binary turns its flags into them (its `cli` module), tests and
//! benchmarks build them with struct-update syntax.
//!
//! ## Layout
//! - [`forward`]: `sink forward`, Kafka consumer group -> TCP, offsets committed only after a
//!   line was acknowledged (by default; or only written, without acknowledgements),
//!   reconnecting with backoff.
//! - [`dashboard`]: `sink dashboard`, a web page of the bars, indicators, signals and the
//!   pipeline's health, pushed to browsers as server-sent events.
//! - [`receive`]: `sink receive`, a TCP server that prints, de-duplicates, appends and then
//!   acknowledges signals; usable as a library with an observable received set.
//! - `line`: turning a Kafka record into a signal ([`Filter`] selects) and a signal into a
//!   line ([`Format`]), and counting what is not a signal.
//! - `tls`: rustls client and server configurations from PEM files.
//!
//! Logging, metrics, exit codes and the shared flags come from the `service` crate.

pub mod dashboard;
pub mod forward;
mod line;
pub mod receive;
mod tls;

pub use line::{Filter, Format};
pub use tls::TlsError;
