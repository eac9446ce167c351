//! The operations behind the CLI: submit, stop, list and inspect queries by name.
//!
//! Queries are looked up by name among the active queries of the shared session (see
//! [`crate::connect`]), so any process can manage what another one started. Every call here is
//! blocking (the Spark client is synchronous): call from plain threads, never from inside an
//! async task.

use std::time::{Duration, Instant};

use spark_connect::streaming::StreamingQuery;
use spark_connect::SparkSession;

use crate::error::{Error, SparkContext};
use crate::progress::{BatchProgress, Totals};
use crate::query;
use crate::strategy::Strategy;

/// A query's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryInfo {
    pub name: String,
    /// Stable across restarts (kept in the checkpoint).
    pub id: String,
    /// New at every start; the Spark UI's statistics page is per run.
    pub run_id: String,
}

impl QueryInfo {
    fn of(q: &StreamingQuery) -> QueryInfo {
        QueryInfo {
            name: q.name().unwrap_or_default().to_string(),
            id: q.id().to_string(),
            run_id: q.run_id().to_string(),
        }
    }

    /// The query's page in the Structured Streaming tab of the Spark UI at `ui`.
    pub fn ui_url(&self, ui: &str) -> String {
        crate::ui::statistics_page(ui, &self.run_id)
    }
}

/// What `submit` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Started(QueryInfo),
    /// A query of that name was already active; nothing was started.
    AlreadyRunning(QueryInfo),
}

/// What `stop` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    Stopped(QueryInfo),
    NotRunning,
}

/// Everything `status` shows about one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub info: QueryInfo,
    pub active: bool,
    pub message: String,
    pub last: Option<BatchProgress>,
    pub totals: Totals,
    pub error: Option<String>,
}

/// Active queries of the session.
pub fn active(spark: &SparkSession) -> Result<Vec<StreamingQuery>, Error> {
    spark
        .streams()
        .active()
        .during(|| "list active queries".into())
}

/// The active query named `name`.
pub fn find(spark: &SparkSession, name: &str) -> Result<Option<StreamingQuery>, Error> {
    Ok(active(spark)?.into_iter().find(|q| q.name() == Some(name)))
}

/// Names and ids of the active queries, sorted by name.
pub fn list(spark: &SparkSession) -> Result<Vec<QueryInfo>, Error> {
    let mut out: Vec<QueryInfo> = active(spark)?.iter().map(QueryInfo::of).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Starts the strategy's query unless one of that name is active. A start with an existing
/// checkpoint resumes where the last run committed.
pub fn submit(spark: &SparkSession, strategy: &Strategy) -> Result<Submitted, Error> {
    if let Some(q) = find(spark, strategy.query_name())? {
        return Ok(Submitted::AlreadyRunning(QueryInfo::of(&q)));
    }
    Ok(Submitted::Started(QueryInfo::of(&start(spark, strategy)?)))
}

/// Starts the strategy's query without looking for an active one first (the caller knows
/// none is), resuming from its checkpoint when there is one; returns its handle.
pub fn start(spark: &SparkSession, strategy: &Strategy) -> Result<StreamingQuery, Error> {
    let q = query::start(spark, strategy)?;
    tracing::info!(
        name = strategy.query_name(),
        id = q.id(),
        run_id = q.run_id(),
        checkpoint = %strategy.checkpoint_location(),
        "query started"
    );
    Ok(q)
}

/// Stops the query named `name` gracefully: waits (up to `drain`) for the micro-batch in
/// flight to finish so the next start does not redo it, then stops and waits for termination.
pub fn stop(spark: &SparkSession, name: &str, drain: Duration) -> Result<Stopped, Error> {
    let Some(q) = find(spark, name)? else {
        return Ok(Stopped::NotRunning);
    };
    let deadline = Instant::now() + drain;
    while Instant::now() < deadline {
        match q.status() {
            Ok(s) if s.is_active && s.is_trigger_active => {
                std::thread::sleep(Duration::from_millis(50))
            }
            _ => break,
        }
    }
    q.stop().during(|| format!("stop query {name}"))?;
    let _ = q.await_termination(Some(30.0));
    tracing::info!(name, id = q.id(), "query stopped");
    Ok(Stopped::Stopped(QueryInfo::of(&q)))
}

/// The plan of the strategy's query (see [`query::explain`]), with the physical plan of its
/// running query when there is one.
pub fn explain(spark: &SparkSession, strategy: &Strategy) -> Result<String, Error> {
    let running = find(spark, strategy.query_name())?;
    query::explain(spark, strategy, running.as_ref())
}

/// The report of one query.
pub fn report(q: &StreamingQuery) -> Result<Report, Error> {
    let name = q.name().unwrap_or_default().to_string();
    let status = q.status().during(|| format!("status of {name}"))?;
    let batches: Vec<BatchProgress> = q
        .recent_progress()
        .during(|| format!("progress of {name}"))?
        .iter()
        .map(|j| BatchProgress::parse(j))
        .collect::<Result<_, _>>()?;
    let error = q
        .exception()
        .during(|| format!("exception of {name}"))?
        .map(|e| e.message);
    Ok(Report {
        info: QueryInfo::of(q),
        active: status.is_active,
        message: status.status_message,
        totals: Totals::over(&batches),
        last: batches.last().cloned(),
        error,
    })
}

/// Reports of the active queries, or of the one named `name` (empty when it is not active).
pub fn status(spark: &SparkSession, name: Option<&str>) -> Result<Vec<Report>, Error> {
    let mut out = Vec::new();
    for q in active(spark)? {
        if name.is_none() || q.name() == name {
            out.push(report(&q)?);
        }
    }
    out.sort_by(|a, b| a.info.name.cmp(&b.info.name));
    Ok(out)
}

/// How a watched query ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEnd {
    Stopped,
    Failed(String),
}

/// Calls `on_batch` once for each new micro-batch of `q`, polling every `interval`, until the
/// query terminates. Blocks (like every call here).
pub fn watch(
    q: &StreamingQuery,
    interval: Duration,
    mut on_batch: impl FnMut(&BatchProgress),
) -> Result<WatchEnd, Error> {
    let mut seen = -1;
    loop {
        let report = report(q)?;
        if let Some(b) = report.last.as_ref().filter(|b| b.batch_id > seen) {
            seen = b.batch_id;
            on_batch(b);
        }
        if !report.active {
            return Ok(match report.error {
                Some(e) => WatchEnd::Failed(e),
                None => WatchEnd::Stopped,
            });
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_url_points_at_the_run() {
        let info = QueryInfo {
            name: "n".into(),
            id: "i".into(),
            run_id: "r".into(),
        };
        assert_eq!(
            info.ui_url("http://127.0.0.1:4040/"),
            "http://127.0.0.1:4040/StreamingQuery/statistics/?id=r"
        );
    }
}
