//! Where trades come from: the live Kraken client and the two offline sources. Each reads its
//! input, parses it, and hands trades (and bad input) to the pipeline's `Emitter`; none of
//! them knows about Kafka.
//!
//! - [`kraken`]: Kraken's WebSocket v2 wire format ([`kraken::protocol`], shared with the
//!   [fake exchange](crate::fake_exchange)) and the reconnecting client.
//! - `replay`: a JSON-lines recording of frames or normalized trades.
//! - `simulate`: a seeded random-walk market (also the fake exchange's market).
//! - [`history`]: history between two times, from Kraken's REST `Trades` endpoint or its
//!   trade-history CSV, resuming after what the topic holds.
//! - `pace`: plays event time at the recorded speed, N times faster, or as fast as possible.

pub mod history;
pub mod kraken;
mod pace;
mod replay;
mod simulate;

use service::shutdown::Shutdown;

use crate::pipeline::emit::Emitter;
use crate::pipeline::OutputSettings;

pub use history::{HistoryError, HistoryInput, HistorySettings, RestHistory};
pub use kraken::client::{KrakenError, KrakenSettings};
pub(crate) use pace::Pacer;
pub use pace::Speed;
pub use replay::{ReplayError, ReplaySettings};
pub use simulate::{Generator, SimulateSettings};

/// The pairs the sources (and the fake exchange) trade unless told otherwise, comma-separated
/// as the `--symbols` flag takes them.
pub const DEFAULT_SYMBOLS: &str = "BTC/USD,ETH/USD,SOL/USD,XRP/USD";

/// [`DEFAULT_SYMBOLS`], one pair each.
pub(crate) fn default_symbols() -> Vec<String> {
    DEFAULT_SYMBOLS.split(',').map(String::from).collect()
}

/// Where trades come from, with that source's settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Live trades from Kraken's WebSocket v2 API.
    Kraken(KrakenSettings),
    /// A recording played back.
    Replay(ReplaySettings),
    /// A seeded random-walk market.
    Simulate(SimulateSettings),
    /// History between two times (REST or CSV) into a topic that keeps it.
    History(HistorySettings),
}

impl Default for Source {
    /// Live Kraken with its default settings, as `ingest kraken` without flags.
    fn default() -> Self {
        Source::Kraken(KrakenSettings::default())
    }
}

impl Source {
    /// Feeds the emitter until the source ends (replay, a finite simulation, history) or
    /// `shutdown`. `output` is where the records go (history checks the topic and resumes
    /// after what it holds).
    pub(crate) async fn run(
        &self,
        output: &OutputSettings,
        emitter: &mut Emitter,
        shutdown: Shutdown,
    ) -> Result<(), crate::Error> {
        match self {
            Source::History(s) => history::run(s, output, emitter, shutdown).await?,
            Source::Kraken(s) => kraken::client::run(s, emitter, shutdown).await?,
            Source::Replay(s) => replay::run(s, emitter, shutdown).await?,
            Source::Simulate(s) => simulate::run(s, emitter, shutdown).await?,
        }
        Ok(())
    }
}
