//! Market data into Kafka, losing nothing: trades from Kraken's WebSocket v2 API (or from a
//! recording, or from a seeded simulator), normalized to the pipeline's [`Trade`] record and
//! produced to `market.trades` exactly once each.
//!
//! The binary only turns flags into [`IngestSettings`] and calls [`run`] (or [`check`]); tests
//! and benchmarks call the same `run` with settings of their own, built from
//! `IngestSettings::default()` with struct-update syntax, and their own metrics and shutdown.
//!
//! ## Layout
//! - [`source`]: where trades come from: [`source::kraken`] (the v2 wire format and the
//!   reconnecting client), `replay` and `simulate` (offline), [`source::history`] (REST or
//!   CSV history between two times), and `pace`, which plays event time at any speed.
//! - [`pipeline`]: what every source feeds: `emit` (de-duplication, keys and timestamps, bad
//!   input), `resume` (primes the de-duplication from the topic's tail after a restart),
//!   [`pipeline::topic`] (a history topic keeps what it is given) and `output` (the bounded queue and the idempotent acks=all Kafka producer behind it).
//! - [`metrics`]: the service's counters, bad input counted by kind.
//! - `check`: `--check`, reaching Kafka and the source without running.
//! - [`fake_exchange`]: a FAKE, local Kraken-speaking server for tests, benchmarks and demos;
//!   not on the path from a real exchange to Kafka.
//!
//! The flags live in the binary (`src/cli.rs`, declared by `src/main.rs`), not here.
//!
//! [`Trade`]: contract::records::Trade

mod check;
pub mod fake_exchange;
pub mod metrics;
pub mod pipeline;
pub mod source;

use std::net::SocketAddr;

use service::metrics::MetricsSettings;
use service::shutdown::{self, Shutdown};

pub use crate::check::{check, CheckError};
use crate::metrics::Metrics;
use crate::pipeline::emit::Emitter;
use crate::pipeline::{Closed, Output, OutputError, OutputSettings};
pub use crate::source::Source;
use crate::source::{HistoryError, KrakenError, ReplayError};

/// Everything [`run`] needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestSettings {
    /// Where trades come from (default: live Kraken).
    pub source: Source,
    /// Where they go: brokers, topics, producer tuning.
    pub output: OutputSettings,
    /// Where the metrics are served and how often they are logged.
    pub metrics: MetricsSettings,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Kraken(#[from] KrakenError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Closed(#[from] Closed),
    #[error("cannot serve metrics on {}: {error}", addr.map_or("-".to_string(), |a| a.to_string()))]
    Metrics {
        addr: Option<SocketAddr>,
        error: std::io::Error,
    },
}

/// Runs the source into Kafka until it ends (replay, a finite simulation) or `shutdown` fires,
/// then flushes: returns once every accepted record is acknowledged by Kafka.
pub async fn run(
    settings: IngestSettings,
    metrics: Metrics,
    shutdown: Shutdown,
) -> Result<(), Error> {
    // Stops the helpers (metrics log and server) when the run ends for any reason.
    let (done, local) = shutdown::channel();
    let helpers = settings
        .metrics
        .start(&metrics.registry, &local)
        .await
        .map_err(|error| Error::Metrics {
            addr: settings.metrics.addr,
            error,
        })?;
    let mut external = shutdown.clone();
    let forward = done.clone();
    let forwarder = tokio::spawn(async move {
        external.recv().await;
        forward.fire();
    });

    let (queue, output) =
        Output::start(settings.output.clone(), metrics.clone(), shutdown.clone())?;
    let topics = &settings.output.topics;
    let mut emitter = Emitter::new(
        queue,
        metrics,
        topics.dead_letter.is_some(),
        topics.ticker.is_some(),
    );
    if let Source::Kraken(k) = &settings.source {
        emitter.reject_ahead_of_receipt(k.max_clock_skew);
        if k.resume_lookback > 0 {
            pipeline::resume::prime(
                &settings.output,
                &k.symbols,
                k.resume_lookback,
                &mut emitter,
            )
            .await;
        }
    }
    let source_result = settings
        .source
        .run(&settings.output, &mut emitter, shutdown.clone())
        .await;
    // Whatever the source left pending goes out too (fails only if the producer died).
    let source_result = match emitter.flush().await {
        Ok(()) => source_result,
        Err(closed) => source_result.and(Err(closed.into())),
    };
    drop(emitter);
    // The output's own error explains a closed queue better than the source's.
    let output_result = output.finish().await;

    done.fire();
    forwarder.abort();
    for helper in helpers {
        let _ = helper.await;
    }
    output_result?;
    source_result
}
