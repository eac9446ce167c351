//! Reading Spark's streaming progress JSON into the few numbers operators look at.
//!
//! Spark reports one progress object per micro-batch (`StreamingQueryProgress.json`). `status`
//! and `watch` show the last one, plus totals over the batches Spark still retains (bad records
//! and late rows are per batch, and the server keeps only the recent ones).

use serde::Deserialize;
use serde_json::Value;

use crate::sql::{BAD_RECORDS, INPUT_METRICS, RECORDS};

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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    batch_id: i64,
    #[serde(default)]
    timestamp: String,
    #[serde(default)]
    num_input_rows: i64,
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
    observed_metrics: Value,
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
        let metric = |key: &str| raw.observed_metrics[INPUT_METRICS][key].as_i64();
        Ok(BatchProgress {
            batch_id: raw.batch_id,
            timestamp: raw.timestamp,
            input_rows: raw.num_input_rows,
            // Spark writes NaN-valued rates as strings or omits them; treat both as 0.
            input_rows_per_s: raw.input_rows_per_second.unwrap_or(0.0),
            processed_rows_per_s: raw.processed_rows_per_second.unwrap_or(0.0),
            batch_duration_ms: raw.duration_ms["triggerExecution"].as_i64().unwrap_or(0),
            watermark: raw.event_time["watermark"].as_str().map(str::to_string),
            state_rows: sum("numRowsTotal"),
            dropped_late: sum("numRowsDroppedByWatermark"),
            bad_records: metric(BAD_RECORDS),
            records: metric(RECORDS),
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
    pub dropped_late: i64,
}

impl Totals {
    pub fn over(batches: &[BatchProgress]) -> Totals {
        Totals {
            batches: batches.len(),
            input_rows: batches.iter().map(|b| b.input_rows).sum(),
            bad_records: batches.iter().filter_map(|b| b.bad_records).sum(),
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
      "observedMetrics" : { "input" : { "bad_records" : 3, "records" : 1203 } }
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
                dropped_late: 2
            }
        );
    }
}
