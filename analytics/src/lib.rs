//! Trading strategies as Spark Structured Streaming queries, submitted, stopped and watched
//! over Spark Connect.
//!
//! A strategy file says which indicators and rules to run on which trades; this crate turns it
//! into one declarative Spark query (Kafka trades -> bars -> lookback windows -> indicators ->
//! rules -> Kafka signals) that runs distributed on the cluster's executors, and manages that
//! query by name from any process.
//!
//! ## Layout
//! - [`strategy`]: the strategy file, its defaults, `--set` overrides and validation; no
//!   two strategies of one query name.
//! - [`rules`]: what each rule compares, defined once for the SQL and the reference.
//! - [`lang`]: the rule language of `rules.custom`: parsed, type-checked, compiled to SQL.
//! - [`sql`]: the query as Spark SQL steps (indicators as higher-order functions).
//! - [`query`]: the steps as a DataFrame with the Kafka source and sink; start, explain.
//!   Knows nothing of names or sessions; [`control`] builds on it, never the other way round.
//! - [`connect`]: the shared Spark Connect session and the reachability check.
//! - [`control`]: submit / stop / list / status / watch / explain by query name.
//! - [`supervise`]: keeps a set of strategies' queries running: notices a stopped or failed
//!   query, resubmits it from its checkpoint with backoff, reconnects, gives up on invalid plans.
//! - [`backtest`]: the strategy's steps as a batch job over history (Kafka between two
//!   times, or a file), signals to a file or topic, and a trading simulation on Spark.
//! - [`warm`]: a throwaway run of a strategy's steps that warms a freshly started server.
//! - [`progress`]: Spark's progress JSON, reduced to what operators look at.
//! - [`text`]: everything the CLI prints (tables, watch lines, what submit and stop did).
//! - [`ui`]: the last run of a query that is no longer active, from the Spark UI.
//! - [`reference`]: an independent Rust implementation of the same computation, for tests.
//! - [`error`]: the library's error type.

pub mod backtest;
pub mod connect;
pub mod control;
pub mod error;
pub mod indicators;
pub mod lang;
pub mod lateness;
pub mod progress;
pub mod query;
pub mod reference;
pub mod rules;
pub mod sql;
pub mod strategy;
pub mod supervise;
pub mod text;
pub mod ui;
pub mod warm;

pub use error::Error;
pub use strategy::Strategy;
