//! Integration tests of the analytics crate against the real stack (`spark/stack up`): Kafka
//! and the Spark cluster behind its Connect server. Tests that run a Spark query take
//! `support::serial()` so they run one at a time on the two-core server.

mod auth;
mod backtest;
mod clean_input;
mod cli;
mod exact;
mod lateness;
mod malformed;
mod report;
mod rules_lang;
mod skeleton;
mod supervise;
mod support;
mod talib;
