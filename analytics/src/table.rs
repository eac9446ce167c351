//! Plain-text tables for `status`, `list` and `watch`.
//!
//! Column-aligned text that reads well in a terminal and greps well in logs; no terminal
//! control codes, so output piped to a file stays clean.

use crate::control::{QueryInfo, Report};

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
pub const STATUS_HEADER: [&str; 12] = [
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
    "LAST ERROR",
];

/// One status row. Late and bad counts are "last batch / all retained batches".
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
            "(LATE DROPPED, BAD RECORDS: last batch / sum over the {n} batches Spark retains)\n"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::{BatchProgress, Totals};

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
                ..BatchProgress::default()
            }),
            totals: Totals {
                batches: 4,
                input_rows: 10,
                bad_records: 5,
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
        let text = status(&[r], "http://ui");
        assert!(text.contains("q: http://ui/StreamingQuery/statistics/?id=r"));
    }
}
