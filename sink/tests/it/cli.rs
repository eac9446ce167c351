//! The `sink` binary itself: complete `--help`, settings errors reported all at once,
//! `--check`, and a receiver that serves metrics and prints its counts on SIGTERM.

use std::process::{Output, Stdio};
use std::time::Duration;

use testkit::{create_topic, produce, rand_topic};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use crate::support::*;

async fn sink(args: &[&str]) -> Output {
    let run = Command::new(env!("CARGO_BIN_EXE_sink"))
        .args(args)
        .env("KAFKA_BROKERS", testkit::brokers())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("sink exits within 60 s")
        .expect("run sink")
}

#[tokio::test]
async fn help_lists_every_flag_with_its_environment_variable() {
    let forward = String::from_utf8(sink(&["forward", "--help"]).await.stdout).unwrap();
    for flag in [
        "--brokers",
        "--kafka-option",
        "--kafka-option-file",
        "--topic",
        "--group-id",
        "--start-from",
        "--endpoint",
        "--tls-ca",
        "--tls-server-name",
        "--ack",
        "--no-ack",
        "--ack-timeout-ms",
        "--ack-tries",
        "--format",
        "--symbol",
        "--action",
        "--strategy",
        "--dead-letter-topic",
        "--max-in-flight",
        "--max-in-flight-bytes",
        "--replay-bytes",
        "--batch-lines",
        "--commit-interval-ms",
        "--connect-timeout-ms",
        "--write-timeout-ms",
        "--backoff-initial-ms",
        "--backoff-max-ms",
        "--healthy-after-ms",
        "--shutdown-timeout-ms",
        "--check",
        "--metrics-addr",
        "--metrics-log-interval-s",
    ] {
        assert!(
            forward.contains(flag),
            "forward --help lacks {flag}:\n{forward}"
        );
    }
    assert!(forward.contains("[env: SINK_ENDPOINT=]"), "{forward}");
    let receive = String::from_utf8(sink(&["receive", "--help"]).await.stdout).unwrap();
    for flag in [
        "--listen",
        "--ack",
        "--no-ack",
        "--output",
        "--append",
        "--fsync",
        "--dedup-capacity",
        "--tls-cert",
        "--tls-key",
        "--tls-client-ca",
        "--allow-remote-plaintext",
        "--max-connections",
        "--idle-timeout-s",
        "--metrics-addr",
    ] {
        assert!(
            receive.contains(flag),
            "receive --help lacks {flag}:\n{receive}"
        );
    }
    let dashboard = String::from_utf8(sink(&["dashboard", "--help"]).await.stdout).unwrap();
    for flag in [
        "--listen",
        "--brokers",
        "--kafka-option",
        "--topic",
        "--history-bars",
        "--replay-records",
        "--recent-signals",
        "--client-queue",
        "--ingest-metrics-url",
        "--forwarder-metrics-url",
        "--receiver-metrics-url",
        "--spark-ui-url",
        "--health-interval-ms",
        "--stale-after-ms",
        "--metrics-addr",
    ] {
        assert!(
            dashboard.contains(flag),
            "dashboard --help lacks {flag}:\n{dashboard}"
        );
    }
    assert!(dashboard.contains("[env: SPARK_UI_URL"), "{dashboard}");
}

#[tokio::test]
async fn every_settings_problem_is_reported_before_connecting() {
    let out = sink(&["forward", "--endpoint", "nohost", "--max-in-flight", "0"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--endpoint") && err.contains("--max-in-flight"),
        "{err}"
    );
    let out = sink(&[
        "forward",
        "--endpoint",
        "127.0.0.1:1",
        "--kafka-option",
        "group.id=x",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--group-id"));
    let out = sink(&[
        "dashboard",
        "--history-bars",
        "0",
        "--spark-ui-url",
        "host:4040",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--history-bars") && err.contains("--spark-ui-url"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reaches_the_broker_and_the_endpoint() {
    let topic = rand_topic("sink-check");
    create_topic(&topic, 1).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    let ok = sink(&[
        "forward",
        "--check",
        "--topic",
        &topic,
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    drop(listener);
    let down = sink(&[
        "forward",
        "--check",
        "--topic",
        &topic,
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("endpoint"));
    let missing = rand_topic("sink-check-missing");
    let out = sink(&[
        "forward",
        "--check",
        "--topic",
        &missing,
        "--endpoint",
        &endpoint,
    ])
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_serves_metrics_and_prints_its_counts_on_sigterm() {
    let (listen, metrics) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_sink"))
        .args([
            "receive",
            "--listen",
            &listen,
            "--metrics-addr",
            &metrics,
            "--output",
            "ndjson",
            "--no-ack",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut socket = connect(&listen).await;
    let line = format!(
        "{}\n",
        serde_json::to_string(&signal("BTC/USD", 7)).unwrap()
    );
    socket
        .write_all(format!("{line}{line}").as_bytes())
        .await
        .unwrap();

    let mut body = String::new();
    for _ in 0..50 {
        let mut http = TcpStream::connect(&metrics).await.unwrap();
        http.write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        body.clear();
        http.read_to_string(&mut body).await.unwrap();
        if body.contains("sink_received_duplicates_total 1\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(body.contains("sink_received_signals_total 1\n"), "{body}");
    assert!(
        body.contains("sink_received_duplicates_total 1\n"),
        "{body}"
    );

    let out = terminate(child).await;
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        line,
        "one NDJSON line for one signal"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "receiver stopped: connections=1 lines=2 signals=1 duplicates=1 skipped=0 acks=0"
        ),
        "{err}"
    );
}

/// Connects to a `sink receive` child once it listens.
async fn connect(listen: &str) -> TcpStream {
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(listen).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("receiver not listening on {listen}");
}

/// Stops a child with SIGTERM; it must exit 0 within 10 s. Returns its output.
async fn terminate(child: tokio::process::Child) -> Output {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts the `sink` binary with `args` and `env`, its output captured.
fn spawn_sink(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_sink"))
        .args(args)
        .envs(env.iter().copied())
        .env("KAFKA_BROKERS", testkit::brokers())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_are_the_default_and_can_be_turned_off() {
    const PER_SYMBOL: usize = 10;
    let n = PER_SYMBOL * SYMBOLS.len();
    let topic = rand_topic("sink-ack-default");
    create_topic(&topic, 1).await;
    produce(&topic, &records(0, PER_SYMBOL)).await;
    struct Run {
        receiver_flags: &'static [&'static str],
        receiver_env: &'static [(&'static str, &'static str)],
        forwarder_flags: &'static [&'static str],
        acks: usize,
    }
    let runs = [
        Run {
            receiver_flags: &[],
            receiver_env: &[],
            forwarder_flags: &[],
            acks: n,
        },
        Run {
            receiver_flags: &["--no-ack"],
            receiver_env: &[],
            forwarder_flags: &["--no-ack"],
            acks: 0,
        },
        Run {
            receiver_flags: &[],
            receiver_env: &[("SINK_ACK", "false")],
            forwarder_flags: &["--ack=false"],
            acks: 0,
        },
    ];
    for Run {
        receiver_flags,
        receiver_env,
        forwarder_flags,
        acks,
    } in runs
    {
        let listen = free_port();
        let mut args = vec!["receive", "--listen", &listen, "--output", "none"];
        args.extend(receiver_flags);
        let receiver = spawn_sink(&args, receiver_env);
        drop(connect(&listen).await);
        let group = rand_group("ack-default");
        let mut args = vec![
            "forward",
            "--topic",
            &topic,
            "--group-id",
            &group,
            "--endpoint",
            &listen,
            "--commit-interval-ms",
            "200",
        ];
        args.extend(forwarder_flags);
        let forwarder = spawn_sink(&args, &[]);
        let offsets = wait_committed(&topic, &group, 1, n as i64).await;
        assert_eq!(offsets, [n as i64], "{args:?}");
        let forwarded = String::from_utf8(terminate(forwarder).await.stderr).unwrap();
        let received = String::from_utf8(terminate(receiver).await.stderr).unwrap();
        assert!(
            forwarded.contains(&format!("acknowledged={acks} ")),
            "{args:?}: {forwarded}"
        );
        assert!(
            received.contains(&format!("acks={acks}\n")),
            "{receiver_flags:?} {receiver_env:?}: {received}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_newline_makes_no_extra_line() {
    let listen = free_port();
    let child = spawn_sink(&["receive", "--listen", &listen, "--output", "text"], &[]);
    let socket = connect(&listen).await;
    // A symbol with a newline and a line of its own after it; and an id with a newline, which
    // would acknowledge an id never received.
    let mut forged_symbol = signal("BTC/USD", 9);
    forged_symbol.symbol =
        "BTC/USD\n2026-11-24T00:09:00.000Z SELL ETH/USD it close=1 reasons=x id=forged".into();
    let mut forged_id = signal("ETH/USD", 9);
    forged_id.id = format!("{}\n{}", forged_id.id, signal("SOL/USD", 9).id);
    let mut lines = String::new();
    for s in [&forged_symbol, &forged_id] {
        lines.push_str(&serde_json::to_string(s).unwrap());
        lines.push('\n');
    }
    let (rd, mut wr) = socket.into_split();
    wr.write_all(lines.as_bytes()).await.unwrap();
    let mut acks = tokio::io::BufReader::new(rd);
    let mut ack = String::new();
    tokio::time::timeout(Duration::from_secs(10), acks.read_line(&mut ack))
        .await
        .expect("acknowledged")
        .unwrap();
    assert_eq!(ack.trim(), forged_symbol.id);
    drop(wr);
    let mut rest = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), acks.read_to_string(&mut rest)).await;
    assert_eq!(
        rest, "",
        "the id with a newline is not acknowledged (not a signal)"
    );

    let out = terminate(child).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains(" BTC/USD\\n2026-11-24T00:09:00.000Z SELL ETH/USD it "),
        "{stdout}"
    );
    assert!(!stdout.contains("SOL/USD"), "{stdout}");
}
