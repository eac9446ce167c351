//! `analytics supervise`: keeps a set of strategies' queries running without a person.
//!
//! Spark runs a streaming query until it fails or is stopped, and a restart of the Spark
//! Connect server ends every query of its sessions; nothing starts them again. The supervisor
//! owns the set of strategies that should run. Every `poll_interval` it lists the active
//! queries of the shared session; a supervised query missing from the list is started again
//! from its checkpoint (it resumes where its last run committed: same query id, new run id),
//! after a per-strategy backoff. When a call fails it drops the session and reconnects with
//! backoff: a server restart loses the session, and its queries with it.
//!
//! It gives up on a strategy only for errors a retry cannot fix: Spark refuses its plan at
//! submit (an analysis, parse or illegal-argument error), or its runs keep failing at once
//! with the same analysis error (SQLSTATE class 42: `give_up_after` runs in a row, each ending
//! within `healthy_after` of its start). A given-up strategy is logged as an error and marked
//! in the metrics, and the others keep being supervised; when none is left, [`run`] ends with
//! [`Ending::AllGivenUp`]. Every other failure (Kafka or the server down, a checkpoint on
//! storage that is away) is retried, with the backoff capped at `resubmit_backoff_max`.
//!
//! Blocking throughout (the Spark client is synchronous): call [`run`] from a plain thread,
//! never inside an async task. It checks its [`Shutdown`] between calls.

use std::time::{Duration, Instant};

use service::backoff::Backoff;
use service::metrics::{Counter, Gauge, Registry};
use service::shutdown::Shutdown;
use spark_connect::streaming::StreamingQuery;
use spark_connect::SparkSession;

use crate::connect::Connection;
use crate::control::{self, QueryInfo, Stopped};
use crate::error::Error;
use crate::strategy::Strategy;

/// What happens to the supervised queries when the supervisor is stopped (Ctrl-C, SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStop {
    /// Stop each one gracefully, as `analytics stop` does: the supervisor owns the queries,
    /// so stopping it stops what it runs (as Ctrl-C on `docker compose up` stops the
    /// containers).
    #[default]
    StopQueries,
    /// Leave them running, e.g. to replace the supervisor without a gap: a new supervisor of
    /// the same strategies adopts the running queries.
    LeaveRunning,
}

/// How the supervisor polls, retries and stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperviseSettings {
    /// The Spark Connect server and the shared session whose queries are supervised.
    pub connection: Connection,
    /// How often the active queries are listed: how soon a stopped query is noticed.
    pub poll_interval: Duration,
    /// Delay before the first attempt to start a stopped query again; it doubles (with
    /// jitter) with every attempt until a run stays healthy for `healthy_after`.
    pub resubmit_backoff_initial: Duration,
    /// Longest delay between two attempts to start a query.
    pub resubmit_backoff_max: Duration,
    /// Delay before the first reconnect to an unreachable server; doubles per failure.
    pub reconnect_backoff_initial: Duration,
    /// Longest delay between two reconnects.
    pub reconnect_backoff_max: Duration,
    /// A run active this long is healthy: its strategy's backoff starts over, and a failure
    /// after it does not count as failing at once.
    pub healthy_after: Duration,
    /// Give up on a strategy whose runs failed at once this many times in a row with the same
    /// analysis error.
    pub give_up_after: u32,
    /// What happens to the queries when the supervisor is stopped.
    pub on_stop: OnStop,
    /// Longest wait for a query's micro-batch in flight when stopping it.
    pub drain_timeout: Duration,
}

impl Default for SuperviseSettings {
    fn default() -> Self {
        SuperviseSettings {
            connection: Connection::default(),
            poll_interval: Duration::from_secs(1),
            resubmit_backoff_initial: Duration::from_secs(1),
            resubmit_backoff_max: Duration::from_secs(60),
            reconnect_backoff_initial: Duration::from_secs(1),
            reconnect_backoff_max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
            give_up_after: 3,
            on_stop: OnStop::StopQueries,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The shutdown fired (Ctrl-C, SIGTERM).
    Shutdown,
    /// Every strategy was given up: nothing left to supervise.
    AllGivenUp,
}

/// A strategy the supervisor gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp {
    /// Its query name.
    pub name: String,
    /// Why: Spark's error.
    pub error: String,
}

/// What became of one supervised query when supervision ended by shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtExit {
    Stopped(QueryInfo),
    /// It was not running at the end (nothing to stop).
    NotRunning(String),
    /// [`OnStop::LeaveRunning`]: left as it was.
    LeftRunning(String),
    /// The stop failed; the query may keep running.
    StopFailed {
        name: String,
        error: String,
    },
}

/// How supervision ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub ending: Ending,
    /// The strategies given up on, in the order they were given.
    pub given_up: Vec<GivenUp>,
    /// Per supervised query not given up (after a shutdown only).
    pub at_exit: Vec<AtExit>,
}

/// Supervises the queries of `strategies` (each validated, distinct query names) until
/// `shutdown` fires or every strategy was given up; then applies `settings.on_stop`. Metrics
/// go to `registry` (see the README's metric table). Blocks.
///
/// Errors only for settings that cannot work (the connection string); everything the server
/// does is retried or, for the errors above, given up on.
pub fn run(
    settings: &SuperviseSettings,
    strategies: Vec<Strategy>,
    registry: &Registry,
    shutdown: Shutdown,
) -> Result<Report, Error> {
    settings.connection.url()?;
    settings.connection.endpoint()?;
    let running = registry.gauge(
        "queries_running",
        "Supervised queries active at the last poll.",
    );
    let unreachable = registry.counter(
        "server_unreachable_total",
        "Failed connects to, or calls of, the Spark Connect server (each followed by a reconnect).",
    );
    let mut slots: Vec<Slot> = strategies
        .into_iter()
        .map(|s| Slot::new(s, settings, registry))
        .collect();
    let mut reconnect = Backoff::new(
        settings.reconnect_backoff_initial,
        settings.reconnect_backoff_max,
    );
    let mut session: Option<SparkSession> = None;
    let ending = loop {
        if shutdown.is_stopped() {
            break Ending::Shutdown;
        }
        if slots.iter().all(Slot::given_up) {
            break Ending::AllGivenUp;
        }
        if session.is_none() {
            match settings.connection.connect() {
                Ok(spark) => {
                    if reconnect.attempts() > 0 {
                        tracing::info!("reconnected to the Spark Connect server");
                    }
                    session = Some(spark);
                }
                // Neither fixes itself; a supervisor started again reads the token again.
                Err(e @ (Error::Settings(_) | Error::Unauthenticated { .. })) => return Err(e),
                Err(e) => {
                    lost(&e, &mut reconnect, &unreachable, &running, &shutdown);
                    continue;
                }
            }
        }
        let spark = session.as_ref().expect("connected above");
        match control::active(spark) {
            Ok(active) => {
                reconnect.reset();
                for slot in slots.iter_mut().filter(|s| !s.given_up()) {
                    match active.iter().find(|q| q.name() == Some(slot.name())) {
                        Some(q) => slot.active(q, settings),
                        None => slot.inactive(spark, settings),
                    }
                }
                running.set(slots.iter().filter(|s| s.running()).count() as i64);
                sleep(settings.poll_interval, &shutdown);
            }
            Err(e @ Error::Unauthenticated { .. }) => return Err(e),
            Err(e) => {
                // A restarted server has lost the session: start over with a new one.
                session = None;
                lost(&e, &mut reconnect, &unreachable, &running, &shutdown);
            }
        }
    };

    let given_up = slots
        .iter()
        .filter_map(|s| match &s.state {
            State::GivenUp(error) => Some(GivenUp {
                name: s.name().to_string(),
                error: error.clone(),
            }),
            _ => None,
        })
        .collect();
    let kept = slots.iter().filter(|s| !s.given_up()).map(Slot::name);
    let at_exit = match (ending, settings.on_stop) {
        (Ending::AllGivenUp, _) => Vec::new(),
        (Ending::Shutdown, OnStop::LeaveRunning) => {
            kept.map(|n| AtExit::LeftRunning(n.to_string())).collect()
        }
        (Ending::Shutdown, OnStop::StopQueries) => {
            let spark = session.map_or_else(|| settings.connection.connect(), Ok);
            kept.map(|name| stop(spark.as_ref(), name, settings.drain_timeout))
                .collect()
        }
    };
    running.set(0);
    Ok(Report {
        ending,
        given_up,
        at_exit,
    })
}

/// Counts and logs a failed connect or call, then waits out the reconnect backoff.
fn lost(
    e: &Error,
    backoff: &mut Backoff,
    unreachable: &Counter,
    running: &Gauge,
    shutdown: &Shutdown,
) {
    unreachable.inc();
    running.set(0);
    let delay = backoff.next_delay();
    tracing::warn!(
        error = %e,
        retry_in_ms = delay.as_millis() as u64,
        "Spark Connect server unreachable or failing; reconnecting"
    );
    sleep(delay, shutdown);
}

/// Stops one query at the end of supervision.
fn stop(spark: Result<&SparkSession, &Error>, name: &str, drain: Duration) -> AtExit {
    let outcome = spark
        .map_err(Error::to_string)
        .and_then(|spark| control::stop(spark, name, drain).map_err(|e| e.to_string()));
    match outcome {
        Ok(Stopped::Stopped(q)) => AtExit::Stopped(q),
        Ok(Stopped::NotRunning) => AtExit::NotRunning(name.to_string()),
        Err(error) => {
            tracing::error!(query = name, error = %error, "could not stop the query; it may keep running");
            AtExit::StopFailed {
                name: name.to_string(),
                error,
            }
        }
    }
}

/// One supervised strategy.
struct Slot {
    strategy: Strategy,
    resubmits: Counter,
    failures: Counter,
    given_up_gauge: Gauge,
    backoff: Backoff,
    state: State,
    /// A run of it was seen: the next start is a resubmit.
    seen: bool,
    /// The analysis error the last runs failed with at once, and how many runs in a row.
    repeated: Option<(String, u32)>,
}

enum State {
    /// Not running; the next start is due at this instant.
    Down(Instant),
    /// Active as this run since this instant (when it was started or first seen).
    Running(StreamingQuery, Instant),
    /// Given up, with why.
    GivenUp(String),
}

impl Slot {
    fn new(strategy: Strategy, settings: &SuperviseSettings, registry: &Registry) -> Slot {
        let labels = [("query", strategy.query_name())];
        Slot {
            resubmits: registry.counter_with(
                "resubmits_total",
                &labels,
                "Queries started again from their checkpoint after they stopped or failed.",
            ),
            failures: registry.counter_with(
                "resubmit_failures_total",
                &labels,
                "Attempts to start a query (the first included) that Spark refused or that failed.",
            ),
            given_up_gauge: registry.gauge_with(
                "given_up",
                &labels,
                "1 when supervision gave up on the query: an error a retry cannot fix.",
            ),
            backoff: Backoff::new(
                settings.resubmit_backoff_initial,
                settings.resubmit_backoff_max,
            ),
            state: State::Down(Instant::now()),
            seen: false,
            repeated: None,
            strategy,
        }
    }

    fn name(&self) -> &str {
        self.strategy.query_name()
    }

    fn given_up(&self) -> bool {
        matches!(self.state, State::GivenUp(_))
    }

    fn running(&self) -> bool {
        matches!(self.state, State::Running(..))
    }

    /// The query is among the active ones as `q`.
    fn active(&mut self, q: &StreamingQuery, settings: &SuperviseSettings) {
        match &self.state {
            State::Running(run, since) if run.run_id() == q.run_id() => {
                if since.elapsed() >= settings.healthy_after {
                    self.backoff.reset();
                    self.repeated = None;
                }
            }
            _ => {
                // Running before the supervisor started, or started by another process.
                tracing::info!(
                    query = self.name(),
                    id = q.id(),
                    run_id = q.run_id(),
                    "query is running; supervising it"
                );
                self.seen = true;
                self.state = State::Running(q.clone(), Instant::now());
            }
        }
    }

    /// The query is not among the active ones: learns how its run ended, then starts it again
    /// when its backoff allows (or gives up).
    fn inactive(&mut self, spark: &SparkSession, settings: &SuperviseSettings) {
        if let State::Running(run, since) = &self.state {
            let ran = since.elapsed();
            // Spark keeps a terminated query's exception for its session for a while; after a
            // server restart the run is unknown (an error here) and nothing is learnt.
            let error = run.exception().ok().flatten().map(|e| summary(&e.message));
            tracing::warn!(
                query = self.name(),
                ran_s = ran.as_secs(),
                error = error
                    .as_deref()
                    .unwrap_or("none (stopped, or the server restarted)"),
                "query is no longer running; starting it again from its checkpoint"
            );
            self.repeated = match error {
                Some(e) if ran < settings.healthy_after && is_analysis(&e) => {
                    let n = match &self.repeated {
                        Some((last, n)) if *last == e => n + 1,
                        _ => 1,
                    };
                    if n >= settings.give_up_after {
                        self.give_up(format!("its query failed at once {n} times in a row: {e}"));
                        return;
                    }
                    Some((e, n))
                }
                _ => None,
            };
            self.state = State::Down(Instant::now() + self.backoff.next_delay());
        }
        if matches!(self.state, State::Down(due) if Instant::now() >= due) {
            self.start(spark);
        }
    }

    fn start(&mut self, spark: &SparkSession) {
        match control::start(spark, &self.strategy) {
            Ok(q) => {
                if self.seen {
                    self.resubmits.inc();
                    tracing::info!(
                        query = self.name(),
                        id = q.id(),
                        run_id = q.run_id(),
                        "query resubmitted; it resumes from its checkpoint"
                    );
                }
                self.seen = true;
                self.state = State::Running(q, Instant::now());
            }
            Err(e) => {
                self.failures.inc();
                // Another process starting the query meanwhile makes Spark refuse a second one
                // of that name with an illegal argument: adopt it at the next poll instead.
                let taken = || matches!(control::find(spark, self.name()), Ok(Some(_)));
                if Error::rejected_plan(&e) && !taken() {
                    self.give_up(format!("Spark rejected its plan: {e}"));
                    return;
                }
                let delay = self.backoff.next_delay();
                tracing::warn!(
                    query = self.name(),
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "could not start the query; trying again"
                );
                self.state = State::Down(Instant::now() + delay);
            }
        }
    }

    fn give_up(&mut self, error: String) {
        tracing::error!(
            query = self.name(),
            error = %error,
            "GIVING UP on the query: a retry cannot fix this; fix the strategy and restart the \
             supervisor (the other strategies stay supervised)"
        );
        self.given_up_gauge.set(1);
        self.state = State::GivenUp(error);
    }
}

/// Whether a query's error is an analysis error: Spark's AnalysisException family, whose
/// messages carry a SQLSTATE of class 42.
fn is_analysis(error: &str) -> bool {
    error.contains("AnalysisException") || error.contains("SQLSTATE: 42")
}

/// A query's exception message without what differs between runs failing the same way (the
/// query and run ids, the plan and offsets Spark appends), on one line.
fn summary(message: &str) -> String {
    let head = message
        .split("\n=== Streaming Query ===")
        .next()
        .unwrap_or_default();
    let head = head
        .split_once("terminated with exception: ")
        .map_or(head, |(_, cause)| cause);
    let head = head
        .strip_prefix("org.apache.spark.sql.streaming.StreamingQueryException: ")
        .unwrap_or(head);
    head.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sleeps `d`, waking early when `shutdown` fires.
fn sleep(d: Duration, shutdown: &Shutdown) {
    let end = Instant::now() + d;
    while !shutdown.is_stopped() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spark_connect_core::SparkErrorKind;

    #[test]
    fn runs_failing_the_same_way_summarize_the_same() {
        let run = |id: &str| {
            format!(
                "org.apache.spark.sql.streaming.StreamingQueryException: [UNRESOLVED_COLUMN] \
                 `x` cannot be\n resolved. SQLSTATE: 42703\n=== Streaming Query ===\n\
                 Identifier: q [id = 1, runId = {id}]\nCurrent Committed Offsets: {{}}"
            )
        };
        let a = summary(&run("r1"));
        assert_eq!(
            a,
            "[UNRESOLVED_COLUMN] `x` cannot be resolved. SQLSTATE: 42703"
        );
        assert_eq!(a, summary(&run("r2")));
        assert!(is_analysis(&a));
        assert_eq!(
            summary("[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: boom"),
            "boom"
        );
        assert!(!is_analysis(
            "Timeout of 60000ms expired before the position was determined"
        ));
    }

    #[test]
    fn only_plan_errors_are_rejected_plans() {
        let spark = |kind| Error::Spark {
            during: "start query q".into(),
            source: Box::new(spark_connect::SparkError::classed(kind, "X", &[])),
        };
        assert!(Error::rejected_plan(&spark(SparkErrorKind::Analysis)));
        assert!(Error::rejected_plan(&spark(
            SparkErrorKind::IllegalArgument
        )));
        assert!(!Error::rejected_plan(&spark(SparkErrorKind::Connect)));
        assert!(!Error::rejected_plan(&Error::Unreachable {
            endpoint: "h:1".into(),
            reason: "refused".into()
        }));
    }

    #[test]
    fn sleep_wakes_on_shutdown() {
        let (trigger, shutdown) = service::shutdown::channel();
        trigger.fire();
        let t = Instant::now();
        sleep(Duration::from_secs(30), &shutdown);
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
