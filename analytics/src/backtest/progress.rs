//! Progress of a backtest while Spark runs it. The Spark Connect client blocks in each action
//! and reports nothing until it ends, so a thread polls the driver's monitoring REST API
//! (`/api/v1/applications/{app}/jobs`, on the Spark UI) for the jobs of this backtest's own
//! session (Spark Connect tags each job with its user and session id): jobs started and done,
//! tasks done of all, and the elapsed time of the phase; the ETA is the phase's elapsed time
//! scaled by its share of tasks not done (rough: later jobs of a phase are not known until
//! they start). Without a reachable UI the lines still give the phase and the elapsed time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ui;

/// The jobs of one session, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Jobs {
    pub started: u64,
    pub done: u64,
    pub tasks: u64,
    pub tasks_done: u64,
}

/// Sums the jobs tagged with `session_id` in a `/jobs` answer whose id is above `ids_after`
/// (the jobs of the current phase).
pub fn session_jobs(json: &str, session_id: &str, ids_after: i64) -> Jobs {
    let Ok(serde_json::Value::Array(jobs)) = serde_json::from_str::<serde_json::Value>(json) else {
        return Jobs::default();
    };
    let mut out = Jobs::default();
    for job in &jobs {
        let ours = job["jobTags"].as_array().is_some_and(|tags| {
            tags.iter()
                .any(|t| t.as_str().is_some_and(|t| t.contains(session_id)))
        });
        if !ours || job["jobId"].as_i64().unwrap_or(-1) <= ids_after {
            continue;
        }
        let n = |k: &str| job[k].as_u64().unwrap_or(0);
        out.started += 1;
        if job["status"].as_str() != Some("RUNNING") {
            out.done += 1;
        }
        out.tasks += n("numTasks").saturating_sub(n("numSkippedTasks"));
        out.tasks_done += n("numCompletedTasks");
    }
    out
}

/// The highest job id in a `/jobs` answer (-1 for none).
fn last_job_id(json: &str) -> i64 {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| {
            v.as_array()
                .map(|jobs| jobs.iter().filter_map(|j| j["jobId"].as_i64()).max())
        })
        .flatten()
        .unwrap_or(-1)
}

/// A polling thread; stops when dropped.
pub struct Watcher {
    phase: Arc<Mutex<(String, Instant, i64)>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Polls the UI at `ui_url` every `interval` for the jobs of `session_id`, handing a line
    /// to `say` each time.
    pub fn start(
        ui_url: &str,
        session_id: &str,
        interval: Duration,
        say: impl Fn(&str) + Send + 'static,
    ) -> Watcher {
        let phase = Arc::new(Mutex::new(("starting".to_string(), Instant::now(), -1)));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (phase.clone(), stop.clone());
        let (ui_url, session_id) = (ui_url.to_string(), session_id.to_string());
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            let app = ui::get(&ui_url, "/api/v1/applications")
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|v| v[0]["id"].as_str().map(String::from));
            let jobs_path = app.map(|a| format!("/api/v1/applications/{a}/jobs"));
            let mut next = Instant::now() + interval;
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if Instant::now() < next {
                    continue;
                }
                next = Instant::now() + interval;
                let (name, since, after) = p.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let jobs = jobs_path
                    .as_deref()
                    .and_then(|path| ui::get(&ui_url, path).ok())
                    .map(|json| session_jobs(&json, &session_id, after));
                say(&line(&name, since.elapsed(), started.elapsed(), jobs));
            }
        });
        Watcher {
            phase,
            stop,
            thread: Some(thread),
        }
    }

    /// A new phase starts: its jobs are those started from now on.
    pub fn phase(&self, name: &str, ui_url: &str) {
        let app_jobs = ui::get(ui_url, "/api/v1/applications")
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v[0]["id"].as_str().map(String::from))
            .and_then(|a| ui::get(ui_url, &format!("/api/v1/applications/{a}/jobs")).ok());
        let after = app_jobs.as_deref().map_or(-1, last_job_id);
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) =
            (name.to_string(), Instant::now(), after);
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One progress line.
pub fn line(phase: &str, in_phase: Duration, total: Duration, jobs: Option<Jobs>) -> String {
    let mut out = format!(
        "[backtest] {phase}: {:.0} s (total {:.0} s)",
        in_phase.as_secs_f64(),
        total.as_secs_f64()
    );
    if let Some(j) = jobs.filter(|j| j.started > 0) {
        out.push_str(&format!(
            ", jobs {}/{} done, tasks {}/{}",
            j.done, j.started, j.tasks_done, j.tasks
        ));
        if j.tasks_done > 0 && j.tasks_done < j.tasks {
            let share = j.tasks_done as f64 / j.tasks as f64;
            out.push_str(&format!(
                ", ETA of the started jobs ~{:.0} s",
                in_phase.as_secs_f64() * (1.0 - share) / share
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_sessions_new_jobs_count() {
        let json = r#"[
          {"jobId":7,"status":"RUNNING","numTasks":10,"numCompletedTasks":4,"numSkippedTasks":2,
           "jobTags":["SparkConnect_OperationTag_User_u_Session_abc_Operation_1"]},
          {"jobId":6,"status":"SUCCEEDED","numTasks":3,"numCompletedTasks":3,"numSkippedTasks":0,
           "jobTags":["SparkConnect_OperationTag_User_u_Session_abc_Operation_1"]},
          {"jobId":5,"status":"SUCCEEDED","numTasks":3,"numCompletedTasks":3,
           "jobTags":["SparkConnect_OperationTag_User_u_Session_other_Operation_1"]},
          {"jobId":2,"status":"SUCCEEDED","numTasks":9,"numCompletedTasks":9,
           "jobTags":["SparkConnect_OperationTag_User_u_Session_abc_Operation_0"]}]"#;
        let j = session_jobs(json, "abc", 4);
        assert_eq!(
            j,
            Jobs {
                started: 2,
                done: 1,
                tasks: 11,
                tasks_done: 7
            }
        );
        assert_eq!(last_job_id(json), 7);
        assert_eq!(session_jobs("<html>", "abc", -1), Jobs::default());
        let l = line(
            "signals",
            Duration::from_secs(10),
            Duration::from_secs(12),
            Some(j),
        );
        assert!(
            l.contains("jobs 1/2 done, tasks 7/11") && l.contains("ETA"),
            "{l}"
        );
        assert_eq!(
            line(
                "simulation",
                Duration::from_secs(1),
                Duration::from_secs(2),
                None
            ),
            "[backtest] simulation: 1 s (total 2 s)"
        );
    }
}
