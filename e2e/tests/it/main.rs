//! End-to-end tests of the whole pipeline against the real stack: the designed price path
//! through the fake exchange, ingest, Kafka, the Spark query, the forwarder and the receiver,
//! fault-free and under each fault; with every hop secured; and the dashboard on the live
//! pipeline, in a real browser.

mod dashboard;
mod pipeline;
mod secure;

use std::sync::{Mutex, MutexGuard};

/// One pipeline at a time: they share the Connect server's two cores, and fault runs (the
/// dashboard's included) restart shared parts of the stack.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
