//! The `simulate` source: a seeded random-walk trade generator, so demos and benchmarks run
//! offline and reproducibly (the same seed and start give the same trades).
//!
//! Each symbol's price is a geometric random walk from a plausible start price, sizes are
//! log-normal around a few hundred dollars of notional, arrivals are a Poisson process at the
//! configured rate of event time, and trade ids count up per symbol from 1. The fake exchange
//! uses the same generator for its market.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use contract::records::{Side, Trade};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use service::shutdown::Shutdown;

use crate::pipeline::emit::Emitter;
use crate::pipeline::Closed;
use crate::source::pace::{Pacer, Speed};

/// A simulated market: the settings of the `simulate` source, and the market of the
/// [fake exchange](crate::fake_exchange).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateSettings {
    /// Pairs to generate trades for, in v2 notation (`BTC/USD`).
    pub symbols: Vec<String>,
    /// Trades per second of event time, over all symbols (must be positive).
    pub rate: f64,
    /// Stop after this many trades (`None`: run until stopped).
    pub count: Option<u64>,
    /// Random seed: the same seed and start give the same trades.
    pub seed: u64,
    /// Event time of the first trade (`None`: when the market starts).
    pub start: Option<DateTime<Utc>>,
    /// How fast event time runs against the wall clock.
    pub speed: Speed,
}

impl Default for SimulateSettings {
    /// The default pairs, 100 trades a second in real time, seed 1, until stopped.
    fn default() -> Self {
        Self {
            symbols: crate::source::default_symbols(),
            rate: 100.0,
            count: None,
            seed: 1,
            start: None,
            speed: Speed::default(),
        }
    }
}

impl SimulateSettings {
    /// The generator of this market, its event time starting now unless `start` is set.
    pub(crate) fn generator(&self) -> Generator {
        let start = self.start.unwrap_or_else(Utc::now);
        Generator::new(&self.symbols, self.seed, start, self.rate)
    }
}

/// A plausible start price for well-known pairs; 100 for others.
fn start_price(symbol: &str) -> f64 {
    match symbol.split('/').next().unwrap_or_default() {
        "BTC" | "XBT" => 65_000.0,
        "ETH" => 3_500.0,
        "SOL" => 150.0,
        "XRP" => 0.6,
        "DOGE" => 0.15,
        "ADA" => 0.45,
        "LTC" => 80.0,
        _ => 100.0,
    }
}

#[derive(Debug)]
struct SymbolState {
    symbol: String,
    price: f64,
    next_id: u64,
}

/// Generates trades one after the other, in event-time order.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    symbols: Vec<SymbolState>,
    clock: DateTime<Utc>,
    mean_gap_us: f64,
}

impl Generator {
    /// `rate`: trades per second of event time (must be positive).
    pub fn new(symbols: &[String], seed: u64, start: DateTime<Utc>, rate: f64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            symbols: symbols
                .iter()
                .map(|s| SymbolState {
                    symbol: s.clone(),
                    price: start_price(s),
                    next_id: 1,
                })
                .collect(),
            clock: start,
            mean_gap_us: 1e6 / rate.max(1e-9),
        }
    }

    /// The next trade; its `recv_ts` is its event time (sources overwrite it on emission).
    pub fn next_trade(&mut self) -> Trade {
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let gap = (-u.ln() * self.mean_gap_us) as i64;
        self.clock += ChronoDuration::microseconds(gap);
        let i = self.rng.random_range(0..self.symbols.len());
        let z = self.normal();
        let z2 = self.normal();
        let buy = self.rng.random_bool(0.5);
        let market = self.rng.random_bool(0.8);
        let s = &mut self.symbols[i];
        // 5 basis points of volatility per trade, prices on a tick of 1e-5 of their magnitude.
        s.price *= (0.0005 * z).exp();
        let tick = 10f64.powi(s.price.log10().floor() as i32 - 5);
        let price = ((s.price / tick).round() * tick).max(tick);
        let qty = ((300.0 / price) * z2.exp() * 1e8).round().max(1.0) / 1e8;
        let id = s.next_id;
        s.next_id += 1;
        Trade {
            exchange: "simulator".into(),
            symbol: s.symbol.clone(),
            trade_id: id,
            price,
            qty,
            side: if buy { Side::Buy } else { Side::Sell },
            ord_type: if market { "market" } else { "limit" }.into(),
            ts: self.clock,
            recv_ts: self.clock,
        }
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.random_range(0.0..1.0);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Runs the simulator into the emitter until `count` trades or shutdown.
pub(crate) async fn run(
    settings: &SimulateSettings,
    emitter: &mut Emitter,
    mut shutdown: Shutdown,
) -> Result<(), Closed> {
    let mut generator = settings.generator();
    let mut pacer = Pacer::new(settings.speed);
    let mut sent = 0u64;
    while settings.count.is_none_or(|n| sent < n) && !shutdown.is_stopped() {
        let mut trade = generator.next_trade();
        pacer.wait(trade.ts, emitter, &mut shutdown).await?;
        if shutdown.is_stopped() {
            break;
        }
        trade.recv_ts = Utc::now();
        emitter.trade(trade).await?;
        sent += 1;
    }
    tracing::info!(trades = sent, "simulation finished");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols() -> Vec<String> {
        vec!["BTC/USD".into(), "XRP/USD".into()]
    }

    #[test]
    fn same_seed_same_trades_and_plausible_values() {
        let t0: DateTime<Utc> = "2026-11-24T21:00:00Z".parse().unwrap();
        let mut a = Generator::new(&symbols(), 7, t0, 100.0);
        let mut b = Generator::new(&symbols(), 7, t0, 100.0);
        let mut last_ts = t0;
        let mut ids = std::collections::HashMap::new();
        for _ in 0..10_000 {
            let t = a.next_trade();
            assert_eq!(t, b.next_trade());
            assert!(t.ts >= last_ts);
            last_ts = t.ts;
            assert!(t.price > 0.0 && t.qty > 0.0 && t.price.is_finite());
            let expected = if t.symbol == "BTC/USD" { 65_000.0 } else { 0.6 };
            assert!((t.price / expected).ln().abs() < 1.0, "{t:?}");
            let next = ids.entry(t.symbol.clone()).or_insert(0u64);
            *next += 1;
            assert_eq!(t.trade_id, *next);
        }
        // 10k trades at 100/s: about 100 s of event time.
        let secs = (last_ts - t0).num_seconds();
        assert!((80..120).contains(&secs), "{secs}");
        let mut c = Generator::new(&symbols(), 8, t0, 100.0);
        assert_ne!(
            c.next_trade(),
            Generator::new(&symbols(), 7, t0, 100.0).next_trade()
        );
    }
}
