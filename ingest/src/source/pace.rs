//! Replaying event time in wall time: at the recorded speed, N times faster, or as fast as
//! possible. Shared by the replay and simulate sources and by the fake exchange's market, so
//! `--speed` means the same everywhere.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use service::shutdown::Shutdown;
use tokio::time::Instant;

use crate::pipeline::emit::Emitter;
use crate::pipeline::Closed;

/// How fast event time runs against the wall clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// `1` is the recorded speed, `10` ten times faster, `0.5` half speed.
    Times(f64),
    /// No waiting at all.
    Max,
}

impl Default for Speed {
    /// The recorded speed.
    fn default() -> Self {
        Speed::Times(1.0)
    }
}

impl FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(Speed::Times(x)),
            _ => Err(format!(
                "speed must be a positive number (1 = recorded speed) or `max`, got `{s}`"
            )),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Speed::Times(x) => write!(f, "{x}"),
            Speed::Max => f.write_str("max"),
        }
    }
}

/// Maps event times to the wall-clock instants they are due at. The first event is due at
/// once; later ones keep their distance to it, divided by the speed. Events that go back in
/// time are due at once.
#[derive(Debug)]
pub(crate) struct Pacer {
    speed: Speed,
    origin: Option<(DateTime<Utc>, Instant)>,
}

impl Pacer {
    pub fn new(speed: Speed) -> Self {
        Self {
            speed,
            origin: None,
        }
    }

    /// When the event at `ts` is due (`None`: at once).
    pub fn due(&mut self, ts: DateTime<Utc>) -> Option<Instant> {
        let Speed::Times(speed) = self.speed else {
            return None;
        };
        let (t0, w0) = *self.origin.get_or_insert_with(|| (ts, Instant::now()));
        let micros = (ts - t0).num_microseconds()?;
        if micros <= 0 {
            return None;
        }
        Some(w0 + Duration::from_secs_f64(micros as f64 / 1e6 / speed))
    }

    /// Waits until the event at `ts` is due, or `shutdown`; if that means waiting at all, the
    /// emitter first hands over what is pending, so those records do not wait too.
    pub async fn wait(
        &mut self,
        ts: DateTime<Utc>,
        emitter: &mut Emitter,
        shutdown: &mut Shutdown,
    ) -> Result<(), Closed> {
        if let Some(at) = self.due(ts).filter(|at| *at > Instant::now()) {
            emitter.flush().await?;
            tokio::select! {
                _ = shutdown.recv() => {}
                _ = tokio::time::sleep_until(at) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_speeds() {
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert_eq!("10".parse::<Speed>().unwrap(), Speed::Times(10.0));
        assert!("0".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn ten_times_faster_takes_a_tenth() {
        let t0: DateTime<Utc> = "2026-11-24T21:00:00Z".parse().unwrap();
        let mut p = Pacer::new(Speed::Times(10.0));
        let (queue, _rx) = crate::pipeline::output::Queue::bounded(1);
        let metrics = crate::metrics::Metrics::new(service::metrics::Registry::new("t"));
        let mut emitter = Emitter::new(queue, metrics, false, false);
        let (_stop, mut shutdown) = service::shutdown::channel();
        let mut wait = async |ts| p.wait(ts, &mut emitter, &mut shutdown).await.unwrap();
        let start = Instant::now();
        wait(t0).await;
        wait(t0 + chrono::Duration::seconds(5)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        // Back in time: no wait.
        wait(t0).await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        assert_eq!(Pacer::new(Speed::Max).due(t0), None);
    }
}
