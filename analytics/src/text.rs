//! Everything the CLI prints, as text: the `status` and `list` tables, the `watch` lines and
//! what `submit`, `stop`, `supervise` and a last run say. One module, so the wording and
//! layout of every command live together and are tested without a terminal.
//!
//! Column-aligned text that reads well in a terminal and greps well in logs; no terminal
//! control codes, so output piped to a file stays clean.

use crate::control::{QueryInfo, Report, Stopped, Submitted, WatchEnd};
use crate::progress::BatchProgress;
use crate::strategy::Strategy;
use crate::supervise::{AtExit, Ending, OnStop, Report as Supervised, SuperviseSettings};
use crate::ui::{self, CompletedRun};

/// Aligns `rows` under `header`, two spaces between columns.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Header of the status table.
pub const STATUS_HEADER: [&str; 13] = [
    "NAME",
    "ACTIVE",
    "STATUS",
    "BATCH",
    "INPUT ROWS/S",
    "PROCESSED ROWS/S",
    "BATCH MS",
    "WATERMARK",
    "STATE ROWS",
    "LATE DROPPED",
    "BAD RECORDS",
    "AHEAD",
    "LAST ERROR",
];

/// One status row. Late, bad and ahead (trades kept out as stamped too far after their receipt)
/// counts are "last batch / all retained batches".
pub fn status_row(r: &Report) -> Vec<String> {
    let last = r.last.as_ref();
    let num = |f: &dyn Fn(&crate::progress::BatchProgress) -> String| {
        last.map(f).unwrap_or_else(|| "-".into())
    };
    vec![
        r.info.name.clone(),
        if r.active { "yes" } else { "no" }.into(),
        r.message.clone(),
        num(&|b| b.batch_id.to_string()),
        num(&|b| format!("{:.1}", b.input_rows_per_s)),
        num(&|b| format!("{:.1}", b.processed_rows_per_s)),
        num(&|b| b.batch_duration_ms.to_string()),
        num(&|b| b.watermark.clone().unwrap_or_else(|| "-".into())),
        num(&|b| b.state_rows.to_string()),
        num(&|b| format!("{}/{}", b.dropped_late, r.totals.dropped_late)),
        num(&|b| format!("{}/{}", b.bad_records.unwrap_or(0), r.totals.bad_records)),
        num(&|b| {
            format!(
                "{}/{}",
                b.ahead_records.unwrap_or(0),
                r.totals.ahead_records
            )
        }),
        r.error
            .as_deref()
            .map(|e| e.lines().next().unwrap_or_default().to_string())
            .unwrap_or_else(|| "-".into()),
    ]
}

/// The status table, with each query's Spark UI page below it.
pub fn status(reports: &[Report], ui: &str) -> String {
    let rows: Vec<Vec<String>> = reports.iter().map(status_row).collect();
    let mut out = render(&STATUS_HEADER, &rows);
    if let Some(n) = reports.first().map(|r| r.totals.batches) {
        out.push_str(&format!(
            "(LATE DROPPED, BAD RECORDS, AHEAD (trades too far ahead of the processing time): \
             last batch / sum over the {n} batches Spark retains)\n"
        ));
    }
    for r in reports {
        out.push_str(&format!("{}: {}\n", r.info.name, r.info.ui_url(ui)));
    }
    out
}

/// The list table.
pub fn list(queries: &[QueryInfo], ui: &str) -> String {
    let rows: Vec<Vec<String>> = queries
        .iter()
        .map(|q| vec![q.name.clone(), q.id.clone(), q.run_id.clone(), q.ui_url(ui)])
        .collect();
    render(&["NAME", "ID", "RUN ID", "SPARK UI"], &rows)
}

/// `submit --check`: the strategy is valid and the server answered with its version.
pub fn checked(s: &Strategy, version: &str, remote: &str) -> String {
    let mut out = format!(
        "ok: strategy `{}` (query `{}`) is valid and Spark {version} at {remote} analyzed its \
         plan\n",
        s.name,
        s.query_name()
    );
    let conflicts = s.conflicts();
    if !conflicts.is_empty() {
        out.push_str(&format!(
            "  conflicts: {} pair(s) of a BUY and a SELL rule may fire on the same bar; such a \
             bar is HOLD with both reasons listed:\n",
            conflicts.len()
        ));
        for (buy, sell) in conflicts {
            out.push_str(&format!("    BUY {buy} / SELL {sell}\n"));
        }
    }
    out
}

/// What `submit` did for one strategy.
pub fn submitted(s: &Strategy, outcome: &Submitted, ui: &str) -> String {
    match outcome {
        Submitted::Started(q) => format!(
            "started `{}` (id {}, run {}), checkpoint {}\n  Spark UI: {}\n",
            q.name,
            q.id,
            q.run_id,
            s.checkpoint_location(),
            q.ui_url(ui)
        ),
        Submitted::AlreadyRunning(q) => format!(
            "already running: `{}` (id {}, run {}); not started again\n  Spark UI: {}\n",
            q.name,
            q.id,
            q.run_id,
            q.ui_url(ui)
        ),
    }
}

/// What `stop NAME` did.
pub fn stopped(name: &str, outcome: &Stopped) -> String {
    match outcome {
        Stopped::Stopped(q) => format!("stopped `{}` (id {}, run {})\n", q.name, q.id, q.run_id),
        Stopped::NotRunning => format!("`{name}` is not running; nothing to stop\n"),
    }
}

/// How the last run of a query that is no longer active ended (`runs`: most recent first, as
/// read from the Spark UI at `ui`).
pub fn last_run(runs: &Result<Vec<CompletedRun>, ui::UiError>, ui: &str) -> String {
    match runs {
        Ok(runs) => match runs.first() {
            Some(r) => {
                let mut out = format!(
                    "last run: {} (id {}, run {}, started {})\n",
                    r.status, r.id, r.run_id, r.started
                );
                if !r.error.is_empty() {
                    out.push_str(&format!("last error: {}\n", r.error));
                }
                out.push_str(&format!(
                    "  Spark UI: {}\n",
                    ui::statistics_page(ui, &r.run_id)
                ));
                out
            }
            None => format!("the Spark UI at {ui} shows no completed run of it either\n"),
        },
        Err(e) => format!("(no last run: {e})\n"),
    }
}

/// The first line of `watch`.
pub fn watching(q: &QueryInfo, ui: &str) -> String {
    format!("watching `{}`: {}\n", q.name, q.ui_url(ui))
}

/// One `watch` line per micro-batch.
pub fn watch_line(b: &BatchProgress) -> String {
    format!(
        "batch {} at {}: {} rows in ({:.1}/s), processed {:.1}/s, {} ms, watermark {}, \
         {} state rows, {} late dropped, {} bad records, {} ahead\n",
        b.batch_id,
        b.timestamp,
        b.input_rows,
        b.input_rows_per_s,
        b.processed_rows_per_s,
        b.batch_duration_ms,
        b.watermark.as_deref().unwrap_or("-"),
        b.state_rows,
        b.dropped_late,
        b.bad_records.unwrap_or(0),
        b.ahead_records.unwrap_or(0),
    )
}

/// The last line of `watch`.
pub fn watch_end(end: &WatchEnd) -> String {
    match end {
        WatchEnd::Stopped => "query stopped\n".into(),
        WatchEnd::Failed(e) => format!("query terminated with an error: {e}\n"),
    }
}

/// The first lines of `supervise`: what it keeps running, and what Ctrl-C will do.
pub fn supervising(strategies: &[Strategy], settings: &SuperviseSettings) -> String {
    let mut out = format!(
        "supervising {} quer{} (polling every {} ms):\n",
        strategies.len(),
        if strategies.len() == 1 { "y" } else { "ies" },
        settings.poll_interval.as_millis()
    );
    for s in strategies {
        out.push_str(&format!(
            "  `{}`, checkpoint {}\n",
            s.query_name(),
            s.checkpoint_location()
        ));
    }
    out.push_str(match settings.on_stop {
        OnStop::StopQueries => {
            "Ctrl-C (or SIGTERM) stops supervising and stops these queries gracefully \
             (--leave-running leaves them running)\n"
        }
        OnStop::LeaveRunning => {
            "Ctrl-C (or SIGTERM) stops supervising and leaves these queries running (stop one \
             with `analytics stop NAME`)\n"
        }
    });
    out
}

/// What `supervise` says when it ends: the strategies it gave up on, and what became of each
/// query.
pub fn supervised(report: &Supervised) -> String {
    let mut out = String::new();
    for g in &report.given_up {
        out.push_str(&format!("gave up on `{}`: {}\n", g.name, g.error));
    }
    if report.ending == Ending::AllGivenUp {
        out.push_str("every strategy was given up: nothing left to supervise\n");
    }
    for a in &report.at_exit {
        out.push_str(&match a {
            AtExit::Stopped(q) => stopped(&q.name, &Stopped::Stopped(q.clone())),
            AtExit::NotRunning(name) => stopped(name, &Stopped::NotRunning),
            AtExit::LeftRunning(name) => {
                format!("left `{name}` running; stop it with `analytics stop {name}`\n")
            }
            AtExit::StopFailed { name, error } => format!(
                "COULD NOT STOP `{name}` ({error}); it may keep running: `analytics stop {name}`\n"
            ),
        });
    }
    out
}

/// What a backtest did: counts, where the signals went, the phases' times, and the metrics
/// table (per symbol, then the portfolio as `*`).
pub fn backtest(r: &crate::backtest::Report) -> String {
    let mut out = format!(
        "{} records read, {} skipped as unusable, {} as too far ahead\n{} bars, {} with a signal\n",
        r.records, r.bad_records, r.ahead_records, r.bars, r.signals
    );
    if let Some((path, rows)) = &r.written {
        out.push_str(&format!("{rows} signals written to {}\n", path.display()));
    }
    if let Some(path) = &r.html {
        out.push_str(&format!("report written to {}\n", path.display()));
    }
    let times: Vec<String> = r
        .phases
        .iter()
        .map(|(name, d)| format!("{name} {:.1} s", d.as_secs_f64()))
        .collect();
    out.push_str(&format!("time: {}\n\n", times.join(", ")));
    let rows: Vec<Vec<String>> = r.metrics.iter().map(metric_cells).collect();
    out.push_str(&render(&METRIC_HEADER, &rows));
    out
}

/// The columns of a backtest's metrics table (the terminal's and the HTML report's).
pub const METRIC_HEADER: [&str; 12] = [
    "SYMBOL", "BARS", "RETURN", "BUY&HOLD", "MAX DD", "SHARPE", "SORTINO", "TRADES", "WIN RATE",
    "AVG WIN", "AVG LOSS", "EXPOSURE",
];

/// One row of the metrics table, as [`METRIC_HEADER`] names the columns: fractions as
/// percentages and ratios with two decimals, `-` where a metric has no value.
pub fn metric_cells(m: &crate::backtest::Metrics) -> Vec<String> {
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.2}%", 100.0 * v));
    let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    vec![
        m.symbol.clone(),
        m.bars.to_string(),
        pct(m.total_return),
        pct(m.buy_hold_return),
        pct(m.max_drawdown),
        num(m.sharpe),
        num(m.sortino),
        m.trades.to_string(),
        pct(m.win_rate),
        pct(m.avg_win),
        pct(m.avg_loss),
        pct(m.exposure),
    ]
}

/// What `warm` did.
pub fn warmed(w: &crate::warm::Warmed) -> String {
    format!(
        "warmed the server in {:.1} s: {} micro-batches with data, the first {} ms, the last {} ms\n",
        w.elapsed.as_secs_f64(),
        w.batches,
        w.first_batch_ms,
        w.last_batch_ms
    )
}

/// What `lateness` measured: the spread, the late trades per delay, the delay to use.
pub fn lateness(m: &crate::lateness::Lateness, max_late_share: f64) -> String {
    let mut out = format!(
        "{} trades; behind the newest trade time received before them: p50 {:.0} ms, \
         p99 {:.0} ms, p99.9 {:.0} ms, max {:.0} ms\n\
         delay (ms)   late trades   share\n",
        m.trades, m.p50_ms, m.p99_ms, m.p999_ms, m.max_ms
    );
    for (d, late) in &m.late {
        let share = if m.trades == 0 {
            0.0
        } else {
            100.0 * *late as f64 / m.trades as f64
        };
        out += &format!("{d:>10} {late:>13} {share:>9.4}%\n");
    }
    out += &match m.smallest_delay(max_late_share) {
        Some(d) => format!(
            "smallest delay dropping at most {}% of these trades: bars.watermark_delay_ms = {d} \
             (an upper bound: Spark moves the watermark between micro-batches only)\n",
            100.0 * max_late_share
        ),
        None => format!(
            "none of these delays drops at most {}% of these trades: try longer ones \
             (--delays-ms)\n",
            100.0 * max_late_share
        ),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Totals;

    #[test]
    fn supervise_says_what_ctrl_c_does_and_what_it_did() {
        let settings = SuperviseSettings::default();
        let text = supervising(&[Strategy::default()], &settings);
        assert!(
            text.starts_with("supervising 1 query (polling every 1000 ms):\n"),
            "{text}"
        );
        assert!(text.contains("stops these queries gracefully"), "{text}");
        let report = Supervised {
            ending: Ending::Shutdown,
            given_up: vec![crate::supervise::GivenUp {
                name: "bad".into(),
                error: "Spark rejected its plan: [X]".into(),
            }],
            at_exit: vec![
                AtExit::LeftRunning("a".into()),
                AtExit::NotRunning("b".into()),
            ],
        };
        assert_eq!(
            supervised(&report),
            "gave up on `bad`: Spark rejected its plan: [X]\nleft `a` running; stop it with \
             `analytics stop a`\n`b` is not running; nothing to stop\n"
        );
    }

    #[test]
    fn columns_align() {
        let t = render(&["A", "LONG"], &[vec!["wide cell".into(), "x".into()]]);
        assert_eq!(t, "A          LONG\nwide cell  x\n");
    }

    #[test]
    fn status_row_shows_last_batch_and_totals() {
        let r = Report {
            info: QueryInfo {
                name: "q".into(),
                id: "i".into(),
                run_id: "r".into(),
            },
            active: true,
            message: "Waiting for next trigger".into(),
            last: Some(BatchProgress {
                batch_id: 3,
                batch_duration_ms: 420,
                dropped_late: 1,
                bad_records: Some(2),
                ahead_records: Some(1),
                ..BatchProgress::default()
            }),
            totals: Totals {
                batches: 4,
                input_rows: 10,
                bad_records: 5,
                ahead_records: 3,
                dropped_late: 1,
            },
            error: None,
        };
        let row = status_row(&r);
        assert_eq!(row.len(), STATUS_HEADER.len());
        assert_eq!(row[3], "3");
        assert_eq!(row[6], "420");
        assert_eq!(row[9], "1/1");
        assert_eq!(row[10], "2/5");
        assert_eq!(row[11], "1/3");
        let text = status(&[r], "http://ui");
        assert!(text.contains("q: http://ui/StreamingQuery/statistics/?id=r"));
    }

    #[test]
    fn last_run_links_the_run_and_shows_its_error() {
        let run = CompletedRun {
            name: "q".into(),
            status: "FAILED".into(),
            id: "i".into(),
            run_id: "r1".into(),
            started: "2026/11/30 20:00:00".into(),
            error: "boom".into(),
        };
        let text = last_run(&Ok(vec![run]), "http://ui/");
        assert_eq!(
            text,
            "last run: FAILED (id i, run r1, started 2026/11/30 20:00:00)\nlast error: boom\n  \
             Spark UI: http://ui/StreamingQuery/statistics/?id=r1\n"
        );
        assert!(last_run(&Ok(vec![]), "http://ui").contains("no completed run"));
    }
}
