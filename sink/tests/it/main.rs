//! Integration tests of `sink`, one binary. All but `receiver` need the stack's Kafka
//! (`spark/stack up`); they fail, never skip, when it is missing.

mod ack;
mod append_failure;
mod cli;
mod dashboard;
mod flapping;
mod forward;
mod kafka_auth;
mod malformed;
mod outage;
mod rebalance;
mod receiver;
mod security;
mod sigkill;
mod support;
mod tls;
