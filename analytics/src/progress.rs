//! Reading Spark's streaming progress JSON into the few numbers operators look at.
//!
//! Spark reports one progress object per micro-batch (`StreamingQueryProgress.json`). `status`
//! and `watch` show the last one, plus totals over the batches Spark still retains (bad records
//! late rows and trades too far ahead are per batch, and the server keeps only the recent ones).

use serde::Deserialize;
use serde_json::Value;

use crate::sql::{AHEAD_RECORDS, BAD_RECORDS, INPUT_METRICS, RECORDS};

/// One micro-batch, as the status table shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchProgress {
    pub batch_id: i64,
    /// When the batch started (ISO 8601, UTC).
    pub timestamp: String,
    pub input_rows: i64,
    pub input_rows_per_s: f64,
    pub processed_rows_per_s: f64,
    /// Wall time of the whole trigger (`durationMs.triggerExecution`).
    pub batch_duration_ms: i64,
    /// Event-time watermark after the batch.
    pub watermark: Option<String>,
    /// Rows held in state, over all stateful operators.
    pub state_rows: i64,
    /// Rows dropped as too late, over all stateful operators.
    pub dropped_late: i64,
    /// Input records kept out as unparseable or invalid (None: no data in this batch).
    pub bad_records: Option<i64>,
    /// Input records read (None: no data in this batch).
    pub records: Option<i64>,
    /// Valid trades kept out as stamped too far after their receipt (None: no data in this
    /// batch, or a query submitted before this count existed).
    pub ahead_records: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    batch_id: i64,
    #[serde(default)]
    timestamp: String,
    #[serde(default)]
    num_input_rows: Option<i64>,
    #[serde(default)]
    input_rows_per_second: Option<f64>,
    #[serde(default)]
    processed_rows_per_second: Option<f64>,
    #[serde(default)]
    duration_ms: Value,
    #[serde(default)]
    event_time: Value,
    #[serde(default)]
    state_operators: Vec<Value>,
    #[serde(default)]
    sources: Vec<Value>,
    #[serde(default)]
    observed_metrics: Value,
}

/// A named observed metric. Spark Connect serializes an observed row as
/// `{"values": [...], "schema": {"fields": [{"name": ...}, ...]}}`; classic Spark as a plain
/// object. Both are read.
fn observed(metrics: &Value, name: &str) -> Option<i64> {
    let row = &metrics[INPUT_METRICS];
    if let Some(v) = row[name].as_i64() {
        return Some(v);
    }
    let i = row["schema"]["fields"]
        .as_array()?
        .iter()
        .position(|f| f["name"] == name)?;
    row["values"][i].as_i64()
}

impl BatchProgress {
    /// Parses one progress JSON object.
    pub fn parse(json: &str) -> Result<BatchProgress, serde_json::Error> {
        let raw: Raw = serde_json::from_str(json)?;
        let sum = |key: &str| {
            raw.state_operators
                .iter()
                .filter_map(|op| op[key].as_i64())
                .sum()
        };
        // Rates and row counts are per source; the top-level totals are not always there.
        let per_source =
            |key: &str| -> f64 { raw.sources.iter().filter_map(|src| src[key].as_f64()).sum() };
        Ok(BatchProgress {
            batch_id: raw.batch_id,
            timestamp: raw.timestamp,
            input_rows: raw
                .num_input_rows
                .unwrap_or(per_source("numInputRows") as i64),
            // Spark omits NaN rates (no time elapsed yet): they read as 0.
            input_rows_per_s: raw
                .input_rows_per_second
                .unwrap_or(per_source("inputRowsPerSecond")),
            processed_rows_per_s: raw
                .processed_rows_per_second
                .unwrap_or(per_source("processedRowsPerSecond")),
            batch_duration_ms: raw.duration_ms["triggerExecution"].as_i64().unwrap_or(0),
            watermark: raw.event_time["watermark"].as_str().map(str::to_string),
            state_rows: sum("numRowsTotal"),
            dropped_late: sum("numRowsDroppedByWatermark"),
            bad_records: observed(&raw.observed_metrics, BAD_RECORDS),
            records: observed(&raw.observed_metrics, RECORDS),
            ahead_records: observed(&raw.observed_metrics, AHEAD_RECORDS),
        })
    }
}

/// Sums over the retained batches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Totals {
    /// Batches Spark still retains (the window these totals cover).
    pub batches: usize,
    pub input_rows: i64,
    pub bad_records: i64,
    pub ahead_records: i64,
    pub dropped_late: i64,
}

impl Totals {
    pub fn over(batches: &[BatchProgress]) -> Totals {
        Totals {
            batches: batches.len(),
            input_rows: batches.iter().map(|b| b.input_rows).sum(),
            bad_records: batches.iter().filter_map(|b| b.bad_records).sum(),
            ahead_records: batches.iter().filter_map(|b| b.ahead_records).sum(),
            dropped_late: batches.iter().map(|b| b.dropped_late).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "id" : "0d9e1b52-1f0c-4a43-9a6c-5b7c2f1e8c11",
      "runId" : "5a2f3c8e-2d0b-4f1e-9c3a-7b6d5e4f3a21",
      "name" : "default",
      "timestamp" : "2026-11-24T22:00:01.000Z",
      "batchId" : 7,
      "batchDuration" : 812,
      "numInputRows" : 1200,
      "inputRowsPerSecond" : 1000.5,
      "processedRowsPerSecond" : 1477.8,
      "durationMs" : { "addBatch" : 700, "triggerExecution" : 812 },
      "eventTime" : { "max" : "2026-11-24T21:59:59.000Z", "watermark" : "2026-11-24T21:59:54.000Z" },
      "stateOperators" : [
        { "operatorName" : "stateStoreSave", "numRowsTotal" : 10, "numRowsDroppedByWatermark" : 2 },
        { "operatorName" : "stateStoreSave", "numRowsTotal" : 990, "numRowsDroppedByWatermark" : 0 }
      ],
      "sources" : [ ],
      "sink" : { "description" : "KafkaTable" },
      "observedMetrics" : { "input" : { "bad_records" : 3, "records" : 1203, "ahead_records" : 1 } }
    }"#;

    #[test]
    fn reads_the_numbers_operators_need() {
        let p = BatchProgress::parse(SAMPLE).unwrap();
        assert_eq!(p.batch_id, 7);
        assert_eq!(p.input_rows, 1200);
        assert_eq!(p.batch_duration_ms, 812);
        assert_eq!(p.watermark.as_deref(), Some("2026-11-24T21:59:54.000Z"));
        assert_eq!((p.state_rows, p.dropped_late), (1000, 2));
        assert_eq!((p.bad_records, p.records), (Some(3), Some(1203)));
        assert_eq!(p.ahead_records, Some(1));
    }

    /// As the Spark 4.2 Connect server returns it: totals per source, observed rows as
    /// values plus schema.
    const CONNECT: &str = r#"{"batchId":0,"durationMs":{"triggerExecution":5325},
      "eventTime":{"watermark":"1970-01-01T00:00:00.000Z"},
      "stateOperators":[{"numRowsTotal":41,"numRowsDroppedByWatermark":0}],
      "sources":[{"description":"KafkaV2","numInputRows":54,"inputRowsPerSecond":0.0,
        "processedRowsPerSecond":10.14}],
      "observedMetrics":{"input":{"values":[13,54,2],"schema":{"type":"struct","fields":[
        {"name":"bad_records","type":"long"},{"name":"records","type":"long"},
        {"name":"ahead_records","type":"long"}]}}}}"#;

    #[test]
    fn reads_the_connect_servers_shape() {
        let p = BatchProgress::parse(CONNECT).unwrap();
        assert_eq!(p.input_rows, 54);
        assert_eq!(p.processed_rows_per_s, 10.14);
        assert_eq!((p.bad_records, p.records), (Some(13), Some(54)));
        assert_eq!(p.ahead_records, Some(2));
        assert_eq!(p.state_rows, 41);
    }

    #[test]
    fn missing_parts_are_zero_or_none() {
        let p = BatchProgress::parse(r#"{"batchId": 1, "inputRowsPerSecond": null}"#).unwrap();
        assert_eq!(p.input_rows_per_s, 0.0);
        assert_eq!(p.bad_records, None);
        assert_eq!(p.watermark, None);
        let t = Totals::over(&[p, BatchProgress::parse(SAMPLE).unwrap()]);
        assert_eq!(
            t,
            Totals {
                batches: 2,
                input_rows: 1200,
                bad_records: 3,
                ahead_records: 1,
                dropped_late: 2
            }
        );
    }
}
