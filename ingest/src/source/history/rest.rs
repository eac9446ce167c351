//! History from Kraken's public REST `Trades` endpoint: pages of up to 1000 trades after a
//! `since` cursor (nanoseconds), the next cursor in the answer's `last`, throttled to the
//! client's interval. A page that fails for a passing reason (HTTP 429 or 5xx, Kraken's
//! "too many requests" or "unavailable", a network error) is asked again after a growing,
//! jittered delay; a page that is not a `Trades` answer at all ends the load with an error
//! before any of it is written. Pairs are loaded one after the other.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use service::backoff::Backoff;
use service::shutdown::Shutdown;

use super::{start_of, HistoryError, HistorySettings, Progress, RestHistory};
use crate::pipeline::emit::Emitter;
use crate::pipeline::resume::Newest;
use crate::source::kraken::protocol::BadItem;
use crate::source::kraken::rest::{self, RestClient, RestError};

const SOURCE: &str = "kraken-rest-history";

/// Whether asking again may help.
fn passing(e: &RestError) -> bool {
    match e {
        RestError::Http { .. } => true,
        RestError::Status { status, .. } => *status == 429 || *status >= 500,
        RestError::Kraken(text) => {
            text.contains("Too many requests")
                || text.contains("EService:Unavailable")
                || text.contains("EService:Busy")
        }
        RestError::Shape(_) | RestError::UnknownPair(_) => false,
    }
}

/// What one request is for.
enum Ask<'a> {
    Pair(&'a str),
    Trades { pair: &'a str, since: &'a str },
}

/// Asks until the answer is usable (a pair name, or text that parses as a `Trades` page), a
/// lasting error, `attempts` failures, or shutdown (`Ok(None)`).
async fn ask(
    client: &mut RestClient,
    what: Ask<'_>,
    symbol: &str,
    r: &RestHistory,
    shutdown: &mut Shutdown,
) -> Result<Option<String>, RestError> {
    let mut backoff = Backoff::new(r.retry_initial, r.retry_max);
    let mut attempt = 1;
    loop {
        let answer = match what {
            Ask::Pair(symbol) => client.pair_name(symbol).await,
            Ask::Trades { pair, since } => match client.trades(pair, since).await {
                Ok(text) => rest::parse_trades(&text, symbol, Utc::now()).map(|_| text.clone()),
                Err(e) => Err(e),
            },
        };
        match answer {
            Ok(text) => return Ok(Some(text)),
            Err(e) if passing(&e) && attempt < r.attempts => {
                let delay = backoff.next_delay();
                tracing::warn!(symbol, attempt, error = %e, delay_ms = delay.as_millis() as u64,
                    "REST request failed; asking again");
                attempt += 1;
                tokio::select! {
                    _ = shutdown.recv() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Loads `[from, to)` of every pair of `r`.
pub(super) async fn run(
    r: &RestHistory,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    newest: &HashMap<String, Newest>,
    settings: &HistorySettings,
    emitter: &mut Emitter,
    mut shutdown: Shutdown,
) -> Result<(), HistoryError> {
    let mut client = RestClient::new(&r.url, r.interval, r.timeout);
    let mut progress = Progress::new(settings.progress_interval);
    let mut covered = None;
    for (done_symbols, symbol) in r.symbols.iter().enumerate() {
        let start = start_of(from, newest.get(symbol));
        let span = (to - start).as_seconds_f64().max(1e-9);
        let share = |t: DateTime<Utc>| {
            let symbol_done = ((t - start).as_seconds_f64() / span).clamp(0.0, 1.0);
            (done_symbols as f64 + symbol_done) / r.symbols.len() as f64
        };
        let page_error = |page, since: &str, error| HistoryError::Page {
            symbol: symbol.clone(),
            page,
            since: since.to_string(),
            error,
        };
        let Some(pair) = ask(&mut client, Ask::Pair(symbol), symbol, r, &mut shutdown)
            .await
            .map_err(|e| page_error(0, "-", e))?
        else {
            return Ok(());
        };
        // `since` is exclusive: start a nanosecond early.
        let mut since = rest::cursor(start - TimeDelta::nanoseconds(1));
        let mut page_no = 0;
        loop {
            if shutdown.is_stopped() {
                tracing::warn!(symbol, "stopped before the end; run again to resume");
                return Ok(());
            }
            page_no += 1;
            let asked = Ask::Trades {
                pair: &pair,
                since: &since,
            };
            let Some(text) = ask(&mut client, asked, symbol, r, &mut shutdown)
                .await
                .map_err(|e| page_error(page_no, &since, e))?
            else {
                return Ok(());
            };
            let page = rest::parse_trades(&text, symbol, Utc::now())
                .map_err(|e| page_error(page_no, &since, e))?;
            progress.pages += 1;
            let mut reached_end = page.trades.is_empty() || page.last == since;
            for item in page.trades {
                match item {
                    Ok(t) if t.ts >= to => {
                        reached_end = true;
                        break;
                    }
                    Ok(t) if t.ts < start => {}
                    Ok(t) => {
                        progress.trades += 1;
                        covered = Some(t.ts);
                        emitter.trade(t).await?;
                    }
                    Err(BadItem { bad, raw }) => emitter.bad(SOURCE, &bad, raw).await?,
                }
            }
            emitter.flush().await?;
            progress.update(covered.map_or(0.0, share), covered, false);
            if reached_end {
                break;
            }
            since = page.last;
        }
    }
    progress.update(1.0, covered, true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_are_asked_again() {
        let status = |status| RestError::Status {
            url: "u".into(),
            status,
        };
        assert!(passing(&status(429)));
        assert!(passing(&status(503)));
        assert!(!passing(&status(404)));
        assert!(passing(&RestError::Kraken(
            "EGeneral:Too many requests".into()
        )));
        assert!(!passing(&RestError::Kraken(
            "EQuery:Unknown asset pair".into()
        )));
        assert!(!passing(&RestError::Shape("x".into())));
    }
}
