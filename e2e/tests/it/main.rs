//! End-to-end tests of the whole pipeline against the real stack: the designed price path
//! through the fake exchange, ingest, Kafka, the Spark query, the forwarder and the receiver,
//! fault-free and under each fault; and the dashboard on the live pipeline, in a real browser.

mod dashboard;
mod pipeline;
