//! Integration tests of ingest against the real Kafka of the local stack (`spark/stack up`)
//! and the in-process local exchange. One binary; each module is one concern.

mod backfill;
mod bad_input;
mod cli;
mod exactly_once;
mod flapping;
mod history;
mod integrity;
mod kafka_auth;
mod kafka_outage;
mod sources;
mod support;
