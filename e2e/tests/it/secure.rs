//! The designed path with every hop secured: ingest, the Spark query (reading and writing)
//! and the forwarder over the stack's SASL_SSL listener, the forwarder to the receiver over
//! mutual TLS. The signals arrive; then nothing the run printed or served shows a secret of
//! the stack: the services' logs, the query's status and plan, the stack's logs, and the Spark
//! UI's environment page and REST API. (Refusals: ingest's and sink's `kafka_auth` tests, the
//! analytics `auth` test, sink's `security` test.)

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use analytics::control;
use e2e::{path, Options, Pipeline, Security};
use ingest::fake_exchange::FakeExchangeSettings;
use ingest::source::{SimulateSettings, Speed};
use testkit::secure::assert_no_secret;

use crate::serial;

#[test]
fn secure_pipeline_delivers_and_shows_no_secret() {
    let _serial = serial();
    let started = Instant::now();
    let dir = testkit::secure::temp_dir("e2e");
    let trades = path::trades();
    e2e::capture_logs(true);
    let p = Pipeline::start(Options {
        name: "e2e-secure".into(),
        exchange: FakeExchangeSettings {
            market: SimulateSettings {
                symbols: path::SYMBOLS.map(String::from).to_vec(),
                // About 10 s of wall time for the path: nothing is broken on the way.
                speed: Speed::Times(8.0),
                count: Some(trades.len() as u64),
                ..SimulateSettings::default()
            },
            script: Some(Arc::new(trades)),
            ..FakeExchangeSettings::default()
        },
        strategy: path::strategy(),
        trades_partitions: 2,
        ack: true,
        supervise: false,
        security: Some(Security::of_stack(&dir)),
    });
    let expected: BTreeSet<String> = path::expected_signals(&p.strategy)
        .into_iter()
        .map(|s| s.id)
        .collect();
    let got = p.wait_for_ids(&expected, Duration::from_secs(75));
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{} of {} signals missing at the mutual-TLS receiver, e.g. {:?}; query progress: {}",
        missing.len(),
        expected.len(),
        &missing[..missing.len().min(5)],
        p.last_progress()
    );
    eprintln!(
        "{} signals over SASL_SSL and mutual TLS in {:.1} s",
        got.len(),
        started.elapsed().as_secs_f64()
    );

    // What an operator sees of the query: its status and its plan.
    let status = control::status(&p.spark, Some(p.strategy.query_name())).expect("status");
    assert_eq!(status.len(), 1, "{status:?}");
    assert_no_secret("the query's status", &format!("{status:?}"));
    assert_no_secret("the query's progress", &p.last_progress());
    let plan = control::explain(&p.spark, &p.strategy).expect("explain");
    assert!(
        plan.contains("SASL_SSL"),
        "the plan shows no Kafka options:\n{plan}"
    );
    assert_no_secret("explain", &plan);

    // The Spark UI: the environment page, and the REST API's environment and SQL plans.
    assert_no_secret(
        "the Spark UI's environment page",
        &testkit::spark_ui_get("/environment/"),
    );
    let apps: serde_json::Value =
        serde_json::from_str(&testkit::spark_ui_get("/api/v1/applications"))
            .expect("applications JSON");
    for app in apps.as_array().expect("applications") {
        let id = app["id"].as_str().expect("application id");
        for what in ["environment", "sql?details=true&planDescription=true"] {
            let body = testkit::spark_ui_get(&format!("/api/v1/applications/{id}/{what}"));
            assert_no_secret(&format!("the Spark REST API's {what}"), &body);
        }
    }
    drop(p);

    // Every log line of the services in this process, and every log of the stack.
    let logs = e2e::captured_logs();
    e2e::capture_logs(false);
    assert!(
        logs.contains("forwarding signals"),
        "no service log captured"
    );
    assert_no_secret("the services' logs", &logs);
    let log_dir = testkit::stack_dir().join("logs");
    for entry in std::fs::read_dir(&log_dir).expect("the stack's logs") {
        let file = entry.unwrap().path();
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert_no_secret(&file.display().to_string(), &text);
    }
    let _ = std::fs::remove_dir_all(dir);
    eprintln!("whole test {:.1} s", started.elapsed().as_secs_f64());
}
