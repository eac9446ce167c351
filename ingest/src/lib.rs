//! Market data into Kafka, losing nothing: trades from Kraken's WebSocket v2 API (or from a
//! recording, or from a seeded simulator), normalized to the pipeline's [`Trade`] record and
//! produced to `market.trades` exactly once each.
//!
//! The binary only parses flags ([`cli`]) and calls [`run`]; tests and benchmarks call the same
//! `run` with their own configuration, metrics and shutdown.
//!
//! ## Layout
//! - [`kraken`]: the v2 wire format ([`kraken::protocol`]) and the reconnecting client source.
//! - [`replay`], [`simulate`]: the offline sources; [`pace`] plays event time at any speed.
//! - [`emit`]: what all sources feed: de-duplication ([`dedup`]), keys and timestamps, bad input;
//!   [`resume`] primes the de-duplication from the topic's tail after a restart.
//! - [`output`]: the bounded queue and the idempotent acks=all Kafka producer behind it.
//! - [`metrics`]: the service's counters; [`ratelimit`]: log lines that cannot flood.
//! - [`exchange`]: a local Kraken-speaking server for tests, benchmarks and demos.
//! - [`cli`]: flags, their validation, and the `Config` they make.
//!
//! [`Trade`]: common::records::Trade

pub mod cli;
pub mod dedup;
pub mod emit;
pub mod exchange;
pub mod kraken;
pub mod metrics;
pub mod output;
pub mod pace;
pub mod ratelimit;
pub mod replay;
pub mod resume;
pub mod simulate;

use std::net::SocketAddr;
use std::time::Duration;

use common::shutdown::{self, Shutdown};

use crate::emit::Emitter;
use crate::kraken::client::{KrakenConfig, KrakenError};
use crate::metrics::Metrics;
use crate::output::{Output, OutputConfig, OutputError};
use crate::replay::{ReplayConfig, ReplayError};
use crate::simulate::SimulateConfig;

/// Where trades come from.
#[derive(Debug, Clone)]
pub enum Source {
    Kraken(KrakenConfig),
    Replay(ReplayConfig),
    Simulate(SimulateConfig),
}

/// Everything [`run`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub output: OutputConfig,
    /// Serve Prometheus text here.
    pub metrics_addr: Option<SocketAddr>,
    /// Log every metric this often.
    pub metrics_log_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Kraken(#[from] KrakenError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Closed(#[from] output::Closed),
    #[error("cannot serve metrics on {addr}: {error}")]
    Metrics {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// Runs the source into Kafka until it ends (replay, a finite simulation) or `shutdown` fires,
/// then flushes: returns once every accepted record is acknowledged by Kafka.
pub async fn run(config: Config, metrics: Metrics, shutdown: Shutdown) -> Result<(), Error> {
    // Stops the helpers (metrics log and server) when the run ends for any reason.
    let (done, local) = shutdown::channel();
    let mut external = shutdown.clone();
    let forward = done.clone();
    let forwarder = tokio::spawn(async move {
        external.recv().await;
        forward.fire();
    });
    let server = match config.metrics_addr {
        Some(addr) => Some(
            common::metrics::serve(metrics.registry.clone(), addr, local.clone())
                .await
                .map_err(|error| Error::Metrics { addr, error })?,
        ),
        None => None,
    };
    let logger = tokio::spawn(common::metrics::log_periodically(
        metrics.registry.clone(),
        config.metrics_log_interval,
        local.clone(),
    ));

    let (queue, output) = Output::start(config.output.clone(), metrics.clone(), shutdown.clone())?;
    let topics = &config.output.topics;
    let mut emitter = Emitter::new(
        queue,
        metrics,
        topics.dead_letter.is_some(),
        topics.ticker.is_some(),
    );
    if let Source::Kraken(k) = &config.source {
        if k.resume_lookback > 0 {
            resume(&config.output, k.resume_lookback, &mut emitter).await;
        }
    }
    let source_result: Result<(), Error> = match &config.source {
        Source::Kraken(c) => kraken::client::run(c, &mut emitter, shutdown.clone())
            .await
            .map_err(Error::from),
        Source::Replay(c) => replay::run(c, &mut emitter, shutdown.clone())
            .await
            .map_err(Error::from),
        Source::Simulate(c) => simulate::run(c, &mut emitter, shutdown.clone())
            .await
            .map_err(Error::from),
    };
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
    let _ = logger.await;
    if let Some(server) = server {
        let _ = server.await;
    }
    output_result?;
    source_result
}

/// Marks the trades already on the topic as sent. Failing to read them back only costs the
/// protection against a restart's repeats, so it is logged, not fatal.
async fn resume(output: &OutputConfig, lookback: i64, emitter: &mut Emitter) {
    let (kafka, topic) = (output.kafka.clone(), output.topics.trades.clone());
    let read = tokio::task::spawn_blocking(move || {
        resume::recent_trades(
            &kafka,
            &topic,
            kraken::protocol::EXCHANGE,
            lookback,
            Duration::from_secs(30),
        )
    })
    .await;
    match read {
        Ok(Ok(trades)) => {
            tracing::info!(
                trades = trades.len(),
                "resuming after the trades already in Kafka"
            );
            for (symbol, id) in trades {
                emitter.already_sent(&symbol, id);
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read back recent trades; a restart snapshot may repeat some")
        }
        Err(e) => tracing::warn!(error = %e, "reading back recent trades failed"),
    }
}
