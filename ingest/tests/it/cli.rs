//! The binary itself: complete `--help`, flag validation, and SIGTERM flushing and exiting 0.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::{brokers, consume_until, create_topic, rand_topic};

use crate::support::{self, assert_exactly_once};

fn ingest() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ingest"))
}

fn stdout(args: &[&str]) -> String {
    let out = ingest().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_names_every_command_and_flag() {
    let top = stdout(&["--help"]);
    for cmd in ["kraken", "replay", "simulate", "exchange"] {
        assert!(top.contains(cmd), "{cmd} missing from --help:\n{top}");
    }
    let kraken = stdout(&["kraken", "--help"]);
    for flag in [
        "--url",
        "--symbols",
        "--ticker-topic",
        "--idle-timeout-s",
        "--ping-interval-s",
        "--backoff-initial-ms",
        "--record",
        "--brokers",
        "--kafka-option",
        "--topic",
        "--dead-letter-topic",
        "--queue-capacity",
        "--linger-ms",
        "--compression",
        "--flush-timeout-s",
        "--metrics-addr",
        "--check",
        "KAFKA_BROKERS",
    ] {
        assert!(
            kraken.contains(flag),
            "{flag} missing from kraken --help:\n{kraken}"
        );
    }
    assert!(stdout(&["replay", "--help"]).contains("--speed"));
    assert!(stdout(&["simulate", "--help"]).contains("--seed"));
    assert!(stdout(&["exchange", "--help"]).contains("--listen"));
}

#[test]
fn invalid_flags_are_all_reported_with_exit_code_2() {
    let out = ingest()
        .args([
            "simulate",
            "--symbols",
            "BTC",
            "--rate=-1",
            "--compression",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for flag in ["--symbols", "--rate", "--compression"] {
        assert!(err.contains(flag), "{flag} not reported:\n{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_everything_and_exits_0() {
    let topic = rand_topic("sigterm");
    create_topic(&topic, 2).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let mut child = ingest()
        .args([
            "simulate",
            "--symbols",
            "BTC/USD,ETH/USD",
            "--rate",
            "2000",
            "--speed",
            "1",
        ])
        .args(["--brokers", &brokers(), "--topic", &topic, "--log", "warn"])
        .args(["--metrics-addr", &metrics_addr])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // While it runs, the metrics are served as Prometheus text.
    let mut conn = std::net::TcpStream::connect(&metrics_addr).expect("metrics port");
    conn.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut page = String::new();
    conn.read_to_string(&mut page).unwrap();
    assert!(
        page.contains("# TYPE ingest_trades_produced_total counter"),
        "{page}"
    );
    assert!(
        page.contains("ingest_bad_input_total{kind=\"not_json\"} 0"),
        "{page}"
    );
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    // Ids count up per symbol, so "no gap and nothing twice" means everything generated
    // before the stop was flushed.
    let total = support::topic_size(&brokers(), &topic) as usize;
    let records = consume_until(&topic, Duration::from_secs(30), move |r| r.len() >= total).await;
    let trades = support::trades(&records);
    assert!(trades.len() > 1000, "only {} trades", trades.len());
    let mut expected = BTreeMap::new();
    for t in &trades {
        let max = expected.entry(t.symbol.clone()).or_insert(0u64);
        *max = (*max).max(t.trade_id);
    }
    assert_exactly_once(&trades, &expected);
}
