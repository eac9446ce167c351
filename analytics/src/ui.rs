//! The last run of a query that is no longer active, read from the Spark UI.
//!
//! A query that failed leaves the session's active list, and Spark Connect offers no way to
//! look up a terminated query from another process (`streams.get` sees active ones only), so
//! its error would be lost to every later `status`. The driver UI keeps completed runs with
//! their status and error in the Structured Streaming tab; this reads that table. It is the
//! UI's HTML, not an API, so it is parsed loosely and tested against the real UI.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One completed run as the Structured Streaming tab lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedRun {
    pub name: String,
    /// `FAILED` or `FINISHED`.
    pub status: String,
    pub id: String,
    pub run_id: String,
    /// As the UI shows it, server local time.
    pub started: String,
    /// First part of the exception message, empty when the run ended without error.
    pub error: String,
}

/// Why the UI could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the Spark UI at {url}: {reason}")]
pub struct UiError {
    pub url: String,
    pub reason: String,
}

/// The statistics page of one run of a query, in the Structured Streaming tab of the UI at
/// `base`.
pub fn statistics_page(base: &str, run_id: &str) -> String {
    format!(
        "{}/StreamingQuery/statistics/?id={run_id}",
        base.trim_end_matches('/')
    )
}

/// Completed runs named `name`, most recent first, from the UI at `base` (plain http).
pub fn completed_runs(base: &str, name: &str) -> Result<Vec<CompletedRun>, UiError> {
    let path =
        "/StreamingQuery/?completed.sort=Start+Time&completed.desc=true&completed.pageSize=1000";
    let html = get(base, path)?;
    Ok(parse_completed(&html)
        .into_iter()
        .filter(|r| r.name == name)
        .collect())
}

/// The body of `GET path` from the UI at `base` (plain http), when it answers 200.
pub(crate) fn get(base: &str, path: &str) -> Result<String, UiError> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let fail = |reason: String| UiError {
        url: url.clone(),
        reason,
    };
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| fail("only http:// UI addresses are supported".into()))?
        .trim_end_matches('/');
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| fail(e.to_string()))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| fail(e.to_string()))?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("malformed HTTP response".into()))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(fail(head.lines().next().unwrap_or_default().to_string()));
    }
    Ok(body.to_string())
}

/// The rows of the "Completed Streaming Queries" table.
pub fn parse_completed(html: &str) -> Vec<CompletedRun> {
    let Some(start) = html.find("id=\"completed-table\"") else {
        return Vec::new();
    };
    let table = &html[start..];
    let table = &table[..table.find("</table>").unwrap_or(table.len())];
    let Some(body) = table.split("<tbody>").nth(1) else {
        return Vec::new();
    };
    body.split("<tr>")
        .skip(1)
        .filter_map(|row| {
            let cells: Vec<String> = row
                .split("<td>")
                .skip(1)
                .map(|cell| {
                    // The error cell continues with a collapsed stack trace after "+details".
                    let cell = cell.split("+details").next().unwrap_or_default();
                    let cell = cell.split("</td>").next().unwrap_or_default();
                    text(cell)
                })
                .collect();
            (cells.len() >= 10).then(|| CompletedRun {
                name: cells[0].clone(),
                status: cells[1].clone(),
                id: cells[2].clone(),
                run_id: cells[3].clone(),
                started: cells[4].clone(),
                error: cells[9].clone(),
            })
        })
        .collect()
}

/// Text content of an HTML fragment: tags dropped, common entities decoded, blanks collapsed.
fn text(fragment: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in fragment.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let decoded = out
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from the Spark 4.2 driver UI.
    const PAGE: &str = r#"<table class="table" id="completed-table">
          <thead><tr><th>Name</th></tr></thead>
          <tbody>
            <tr>
      <td>q1</td>
      <td>FAILED</td>
      <td>5ba4e77e-c0ca-4a01-9c4c-a669745779fb</td>
      <td><a href="/StreamingQuery/statistics/?id=de31">de31deb4-451d-4660-8750-3c1a3368e711</a></td>
      <td>2026/11/24 23:23:24</td>
      <td>12 ms</td>
      <td>0.00</td>
      <td>1.27</td>
      <td>0</td>
      <td>org.apache.spark.SparkException: Job aborted: Topic &quot;t&quot; not present
        <span class="expand-details">+details
      </span><div class="stacktrace-details collapsed"><pre>trace</pre></div></td>
    </tr><tr>
      <td>q2</td>
      <td>FINISHED</td>
      <td>a</td>
      <td><a href="x">b</a></td>
      <td>2026/11/24 23:00:00</td>
      <td>1 s</td><td>0</td><td>0</td><td>3</td>
      <td></td>
    </tr>
          </tbody></table>"#;

    #[test]
    fn reads_failed_and_finished_runs() {
        let runs = parse_completed(PAGE);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].name, "q1");
        assert_eq!(runs[0].status, "FAILED");
        assert_eq!(runs[0].run_id, "de31deb4-451d-4660-8750-3c1a3368e711");
        assert_eq!(
            runs[0].error,
            "org.apache.spark.SparkException: Job aborted: Topic \"t\" not present"
        );
        assert_eq!(
            (runs[1].status.as_str(), runs[1].error.as_str()),
            ("FINISHED", "")
        );
        assert!(parse_completed("<html>no table</html>").is_empty());
    }
}
