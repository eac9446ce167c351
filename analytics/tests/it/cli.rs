//! The `analytics` binary across processes: submit in one process; status, list, explain,
//! watch and stop from new ones; a resubmit resumes from the checkpoint. Measures the
//! at-least-once overlap (signal ids emitted again after the restart). Also: a query that
//! fails reports its error to `watch` and, once gone, to `status`; the exit codes for a
//! missing server and an invalid strategy file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use analytics::reference;
use chrono::{DateTime, Utc};
use contract::Trade;

use crate::support::{self, Running};

/// The binary with `args`, in the test session.
fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_analytics"));
    c.args(args)
        .env("ANALYTICS_SESSION_ID", support::connection().session_id)
        .env("SPARK_REMOTE", support::connection().remote)
        .env("RUST_LOG", "warn");
    c
}

/// Runs the binary; returns (exit code, stdout + stderr).
pub(crate) fn cli(args: &[&str]) -> (i32, String) {
    let out: Output = command(args).output().expect("run the analytics binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn trades(t0: DateTime<Utc>, bars: std::ops::Range<i64>) -> Vec<Trade> {
    bars.map(|b| {
        let x = b as f64;
        let close = 50_000.0 + 400.0 * (x / 6.0).sin() + 25.0 * (x * 1.1).cos();
        let ts = t0 + chrono::Duration::seconds(60 * b + 17);
        support::trade("ETH/USD", b as u64 + 1, ts, close, 0.25)
    })
    .collect()
}

#[test]
fn submit_status_stop_and_resume_from_new_processes() {
    let _serial = support::serial();
    let (trades_topic, signals_topic) = support::topics("cli");
    let mut strategy = support::strategy(&trades_topic, &signals_topic);
    strategy.bars.lookback = 30;
    let i = &mut strategy.indicators.classic;
    (i.sma_fast, i.sma_slow, i.ema, i.rsi) = (3, 8, 5, 4);
    let name = strategy.query_name().to_string();
    let dir = std::env::temp_dir().join("tradesignal-it");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml::to_string(&strategy).unwrap()).unwrap();
    let file = file.to_str().unwrap();

    let t0: DateTime<Utc> = "2026-03-03T00:00:00Z".parse().unwrap();
    let first = trades(t0, 0..60);
    let all = trades(t0, 0..120);
    // Bars close when a later trade moves the watermark past them: the last bar of each phase
    // stays open until the next phase (or forever, for the very last one).
    let closed = |trades: &[Trade]| {
        let last_end = t0 + chrono::Duration::seconds(60 * trades.len() as i64);
        reference::signals(trades, &strategy)
            .into_iter()
            .filter(|s| s.bar_end < last_end)
            .collect::<Vec<_>>()
    };
    let (want_first, want_all) = (closed(&first), closed(&all));
    assert!(
        want_first.len() >= 3 && want_all.len() > want_first.len(),
        "{} then {}",
        want_first.len(),
        want_all.len()
    );

    support::produce_trades(&trades_topic, &first);
    let (code, out) = cli(&["submit", "--config", file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("started `{name}`")), "{out}");
    assert!(out.contains("/StreamingQuery/statistics/?id="), "{out}");
    let query_id = |out: &str| {
        out.split("(id ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or_default()
            .to_string()
    };
    let id = query_id(&out);
    // From here on, this process also stops the query if the test fails.
    let running = Running {
        spark: support::spark(),
        name: name.clone(),
    };

    let (code, out) = cli(&["submit", "--config", file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("already running: `{name}`")), "{out}");

    let got = support::await_signals(
        &running.spark,
        &name,
        &signals_topic,
        want_first.len(),
        Duration::from_secs(120),
    );
    assert_eq!(got.len(), want_first.len());

    // The Spark UI lists the query by name, and its jobs are described by it.
    let streaming_tab = testkit::spark_ui_get("/StreamingQuery/");
    assert!(
        streaming_tab.contains(&name),
        "Structured Streaming tab lacks {name}"
    );
    let apps = testkit::spark_ui_get("/api/v1/applications");
    let app: serde_json::Value = serde_json::from_str(&apps).expect("applications JSON");
    let jobs = testkit::spark_ui_get(&format!(
        "/api/v1/applications/{}/jobs",
        app[0]["id"].as_str().expect("application id")
    ));
    let jobs: serde_json::Value = serde_json::from_str(&jobs).expect("jobs JSON");
    let described = format!("{name}\nid = {id}\n");
    assert!(
        jobs.as_array()
            .is_some_and(|jobs| jobs.iter().any(|j| j["description"]
                .as_str()
                .is_some_and(|d| d.starts_with(&described)))),
        "no job described by the query name and id"
    );

    let (code, out) = cli(&["status", &name]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("NAME") && out.contains("BAD RECORDS"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&name) && l.contains(" yes ")),
        "{out}"
    );
    let (code, out) = cli(&["list"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&name) && out.contains(&id), "{out}");
    let (code, out) = cli(&["explain", "--config", file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("== Steps (Spark SQL) =="), "{out}");
    assert!(
        out.contains("StateStoreSave"),
        "physical plan of the running query: {out}"
    );

    // `watch` in its own process follows the query until the stop below ends it.
    let watcher = command(&["watch", &name, "--interval-ms", "200"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start watch");
    std::thread::sleep(Duration::from_secs(2));

    let (code, out) = cli(&["stop", &name]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("stopped `{name}`")), "{out}");
    let watched = watcher
        .wait_with_output()
        .expect("watch exits after the stop");
    let text = String::from_utf8_lossy(&watched.stdout);
    assert!(watched.status.success(), "{text}");
    assert!(text.contains(&format!("watching `{name}`")), "{text}");
    assert!(
        text.contains("batch ") && text.contains("bad records"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("query stopped"), "{text}");
    let (code, out) = cli(&["stop", &name]);
    assert_eq!(code, 0, "stop is idempotent: {out}");
    assert!(out.contains("not running"), "{out}");
    let (code, out) = cli(&["status", &name]);
    assert_eq!(code, 4, "{out}");

    // Trades arrive while the query is down; the resubmit resumes from the checkpoint.
    support::produce_trades(&trades_topic, &all[60..]);
    let (code, out) = cli(&["submit", "--config", file]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(query_id(&out), id, "same checkpoint, same query id: {out}");

    let want = want_all.len();
    let got = support::await_signals(
        &running.spark,
        &name,
        &signals_topic,
        want,
        Duration::from_secs(120),
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &got {
        *counts.entry(s.id.as_str()).or_default() += 1;
    }
    let expected: Vec<&str> = want_all.iter().map(|s| s.id.as_str()).collect();
    let distinct: Vec<&str> = counts.keys().copied().collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(distinct, sorted, "every bar's signal, across the restart");
    let overlap = got.len() - distinct.len();
    eprintln!(
        "at-least-once overlap after stop + resubmit: {overlap} of {} signal ids emitted again",
        distinct.len()
    );
    drop(running);
}

#[test]
fn exit_codes_say_what_is_wrong() {
    // No server: exit 3 and how to start the stack, without minutes of client retries.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let (code, out) = cli(&["--remote", &format!("sc://127.0.0.1:{port}"), "list"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("spark/stack up"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // Invalid strategy: exit 2, the field and the reason named; nothing is contacted.
    let dir = std::env::temp_dir().join("tradesignal-it");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join(format!("bad-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &bad,
        "[bars]\nlookback = 1\n[indicators]\nrsi_overbought = 20.0\n",
    )
    .unwrap();
    let (code, out) = cli(&["submit", "--check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("bars.lookback: 1 must be between 2 and"),
        "{out}"
    );
    assert!(out.contains("indicators.rsi_oversold"), "{out}");
    // A bad rule expression: exit 2, the rule's field, the position and a suggestion; explain
    // refuses it the same way, before contacting Spark.
    let bad_rule = dir.join(format!("bad-rule-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &bad_rule,
        "[[rules.custom]]\naction = \"BUY\"\nwhen = \"rsi < 30 and volme > 2\"\nreason = \"x\"\n\n\
         [[rules.custom]]\naction = \"SELL\"\nwhen = \"rsi > 70 )\"\nreason = \"y\"\n",
    )
    .unwrap();
    for command in ["submit", "explain"] {
        let mut args = vec![command, "--config", bad_rule.to_str().unwrap()];
        if command == "submit" {
            args.push("--check");
        }
        let (code, out) = cli(&args);
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains(
                "rules.custom[0].when: 1:14: unknown name `volme`; did you mean `volume`?"
            ),
            "{out}"
        );
        assert!(
            out.contains("rules.custom[1].when: 1:10: unexpected `)`"),
            "{out}"
        );
    }
    let (code, out) = cli(&["submit", "--config", "/nonexistent/strategy.toml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/nonexistent/strategy.toml"), "{out}");
    // An override is checked like the field in the file; two strategies may not share a
    // query name (each is found by its name).
    let good = dir.join(format!("good-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&good, "name = \"twin\"\n").unwrap();
    let good = good.to_str().unwrap();
    let (code, out) = cli(&["submit", "--check", "-c", good, "--set", "bars.lookback=1"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("bars.lookback: 1 must be between 2 and"),
        "{out}"
    );
    let (code, out) = cli(&["submit", "--check", "-c", good, "-c", good]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("two strategies have the query name `twin`"),
        "{out}"
    );

    // A good strategy: the language, then Spark's analyzer; BUY and SELL rules that may fire
    // on one bar are listed with how such a bar ends.
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/strategies/trend_following.toml"
    );
    let (code, out) = cli(&["submit", "--check", "-c", example]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("analyzed its plan"), "{out}");
    assert!(
        out.contains("BUY trend_up / SELL atr_stop") && !out.contains("SELL trend_down"),
        "{out}"
    );
    assert!(
        out.contains("such a bar is HOLD with both reasons listed"),
        "{out}"
    );
    // What only Spark can refuse (here a Kafka source option) is refused by --check with
    // Spark's reason, exit 2, nothing started.
    let (code, out) = cli(&[
        "submit",
        "--check",
        "-c",
        good,
        "--set",
        "source.options={ \"kafka.key.deserializer\" = \"x\" }",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("analyze the plan of twin") && out.contains("key.deserializer"),
        "{out}"
    );

    // --help documents every command.
    let (code, out) = cli(&["--help"]);
    assert_eq!(code, 0);
    for cmd in ["submit", "stop", "status", "list", "watch", "explain"] {
        assert!(out.contains(cmd), "{cmd} missing from --help: {out}");
    }
    assert!(Path::new(env!("CARGO_BIN_EXE_analytics")).exists());
}

#[test]
fn a_failed_query_reports_its_error_to_watch_and_status() {
    let _serial = support::serial();
    let (trades_topic, _) = support::topics("failing");
    // The sink topic does not exist (the stack does not auto-create topics): the first write
    // fails, after 3 s instead of the producer's default minute.
    let missing = testkit::rand_topic("missing");
    let mut strategy = support::strategy(&trades_topic, &missing);
    strategy.rules.every_bar = true;
    strategy
        .sink
        .options
        .insert("kafka.max.block.ms".into(), "3000".into());
    let name = strategy.query_name().to_string();
    let t0: DateTime<Utc> = "2026-04-04T00:00:00Z".parse().unwrap();
    support::produce_trades(&trades_topic, &trades(t0, 0..5));

    let spark = support::spark();
    analytics::control::submit(&spark, &strategy).expect("submit");
    let _running = Running {
        spark,
        name: name.clone(),
    };
    let watched = command(&["watch", &name, "--interval-ms", "200"])
        .output()
        .expect("watch until the query fails");
    let text = String::from_utf8_lossy(&watched.stdout);
    assert_eq!(watched.status.code(), Some(1), "{text}");
    assert!(text.contains("query terminated with an error"), "{text}");
    assert!(
        text.contains(&format!("Topic {missing} not present")),
        "{text}"
    );

    let (code, out) = cli(&["status", &name]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("last run: FAILED"), "{out}");
    assert!(
        out.contains("last error: ") && out.contains(&missing),
        "{out}"
    );
}
