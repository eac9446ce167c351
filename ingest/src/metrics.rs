//! The ingest service's metrics, registered once with their help texts so every module counts
//! into the same named series and tests read them by name.

use std::sync::Arc;

use service::bad_input::BadInput;
use service::metrics::{Counter, Gauge, Registry};

use crate::source::kraken::protocol::BadKind;

/// Handles to every ingest metric. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Where every metric below is registered: logged and served from here.
    pub registry: Registry,
    /// Text frames received from a WebSocket or read from a replay file.
    pub frames: Counter,
    /// Valid trades seen by the pipeline, duplicates included.
    pub trades_received: Counter,
    /// Trades acknowledged by Kafka.
    pub trades_produced: Counter,
    /// Ticker updates acknowledged by Kafka.
    pub tickers_produced: Counter,
    /// Bad input written to the dead-letter topic and acknowledged.
    pub dead_letters_produced: Counter,
    /// Trades dropped because the same (symbol, trade_id) was already sent.
    pub duplicates_skipped: Counter,
    /// WebSocket connections lost or given up on (each one is followed by a reconnect).
    pub reconnects: Counter,
    /// Subscription requests the exchange refused.
    pub subscribe_errors: Counter,
    /// Gaps found after a reconnect: a symbol's first trade id more than one above the last
    /// one seen (trades beyond the snapshot were missed).
    pub gaps: Counter,
    /// Missed trades recovered from the REST API and sent.
    pub backfilled_trades: Counter,
    /// Gaps not (fully) filled: REST failed or did not have every missing trade.
    pub backfill_failures: Counter,
    /// Trades known missed and not recovered (the ids of the gaps that were not filled).
    pub unrecovered_trades: Counter,
    /// Records Kafka failed to deliver (each is retried).
    pub delivery_errors: Counter,
    /// Records Kafka refused for good (bad timestamp, too large): dead-lettered, not retried.
    pub rejected: Counter,
    /// Client-level Kafka errors (broker down, ...): librdkafka retries these itself.
    pub kafka_errors: Counter,
    /// Records accepted but not yet acknowledged by Kafka (queue plus in flight).
    pub queue_depth: Gauge,
    /// 1 while a WebSocket connection is up and subscribed.
    pub connected: Gauge,
    /// `bad_input_total{kind}`, and the rate-limited warnings about bad input.
    pub(crate) bad_input: Arc<BadInput<BadKind>>,
}

impl Metrics {
    /// Registers every ingest metric in `registry` (all at 0).
    pub fn new(registry: Registry) -> Self {
        let c = |name: &str, help: &str| registry.counter(name, help);
        let bad_input = Arc::new(BadInput::new(
            &registry,
            "bad_input_total",
            "Frames or trades rejected, by reason; the valid trades around them still go through.",
        ));
        Self {
            frames: c("frames_total", "Text frames received or read."),
            trades_received: c(
                "trades_received_total",
                "Valid trades seen, duplicates included.",
            ),
            trades_produced: c("trades_produced_total", "Trades acknowledged by Kafka."),
            tickers_produced: c(
                "tickers_produced_total",
                "Ticker updates acknowledged by Kafka.",
            ),
            dead_letters_produced: c(
                "dead_letters_produced_total",
                "Bad input written to the dead-letter topic and acknowledged.",
            ),
            duplicates_skipped: c(
                "duplicates_skipped_total",
                "Trades skipped because their (symbol, trade_id) was already sent.",
            ),
            reconnects: c(
                "reconnects_total",
                "WebSocket connections lost or given up on.",
            ),
            subscribe_errors: c(
                "subscribe_errors_total",
                "Subscriptions refused by the exchange.",
            ),
            gaps: c(
                "gaps_total",
                "Gaps in a symbol's trade ids after a reconnect (more missed than the snapshot held).",
            ),
            backfilled_trades: c(
                "backfilled_trades_total",
                "Missed trades recovered from the REST API.",
            ),
            backfill_failures: c(
                "backfill_failures_total",
                "Gaps not fully filled (REST failed or lacked trades): trades lost.",
            ),
            unrecovered_trades: c(
                "unrecovered_trades_total",
                "Trades known missed and not recovered.",
            ),
            delivery_errors: c(
                "delivery_errors_total",
                "Records Kafka failed to deliver; each one is sent again.",
            ),
            rejected: c(
                "rejected_total",
                "Records Kafka refused for good; sent to the dead-letter topic if there is one.",
            ),
            kafka_errors: c(
                "kafka_errors_total",
                "Kafka client errors (e.g. broker unreachable), retried by the client.",
            ),
            queue_depth: registry.gauge(
                "queue_depth",
                "Records accepted but not yet acknowledged by Kafka.",
            ),
            connected: registry.gauge("connected", "1 while the WebSocket is up and subscribed."),
            bad_input,
            registry,
        }
    }

    /// The `bad_input_total{kind}` counter.
    pub fn bad(&self, kind: BadKind) -> &Counter {
        self.bad_input.counter(kind)
    }
}
