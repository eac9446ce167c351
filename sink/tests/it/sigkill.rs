//! The real `sink forward` binary killed with SIGKILL mid-stream and started again: nothing is
//! lost (it resumes from the last committed offsets); then stopped with SIGTERM, it exits 0.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use testkit::{create_topic, produce, rand_topic};
use tokio::process::{Child, Command};

use crate::support::*;

const PER_SYMBOL: usize = 6000;
const BURST_END: usize = 5000;

fn start_forwarder(topic: &str, group: &str, endpoint: SocketAddr, ack: bool) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sink"))
        .args([
            "forward",
            "--topic",
            topic,
            "--group-id",
            group,
            "--endpoint",
            &endpoint.to_string(),
            "--commit-interval-ms",
            "500",
            // The killed member holds its partitions until its session times out (45 s by
            // default); the broker's minimum keeps the restart quick.
            "--kafka-option",
            "session.timeout.ms=6000",
        ])
        .arg(if ack { "--ack" } else { "--no-ack" })
        .env("KAFKA_BROKERS", testkit::brokers())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the sink binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing() {
    sigkill_mid_stream(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_with_acks() {
    sigkill_mid_stream(true).await;
}

async fn sigkill_mid_stream(ack: bool) {
    let topic = rand_topic("sink-sigkill");
    create_topic(&topic, 4).await;
    let n = (PER_SYMBOL * SYMBOLS.len()) as u64;
    // A slow start, a burst (the kill lands in it, lines in flight), then a slow stream that
    // goes on while the forwarder is down.
    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            let slow = |from: usize, to: usize| {
                let topic = topic.clone();
                async move {
                    for from in (from..to).step_by(100) {
                        produce(&topic, &records(from, from + 100)).await;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            slow(0, 300).await;
            produce(&topic, &records(300, BURST_END)).await;
            slow(BURST_END, PER_SYMBOL).await;
        })
    };
    let receiver = RunningReceiver::quiet(ack).await;
    let group = rand_group("sigkill");

    let mut child = start_forwarder(&topic, &group, receiver.addr, ack);
    let mid_burst = (SYMBOLS.len() * 1800) as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while receiver.received.signals() < mid_burst {
        assert!(std::time::Instant::now() < deadline, "burst never arrived");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not exited: {status}");
    let at_kill = receiver.received.signals();
    assert!(
        at_kill < (SYMBOLS.len() * BURST_END) as u64,
        "the kill must happen mid-burst: {at_kill}"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut child = start_forwarder(&topic, &group, receiver.addr, ack);
    producer.await.unwrap();
    receiver.wait_for_signals(n, Duration::from_secs(60)).await;

    // A graceful stop commits what was delivered and exits 0.
    let pid = child.id().expect("running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits within 20 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "SIGTERM exit: {status}");
    let offsets = wait_committed(&topic, &group, 4, n as i64).await;
    assert_eq!(
        offsets.iter().sum::<i64>(),
        n as i64,
        "all committed: {offsets:?}"
    );

    let duplicates = receiver.received.duplicates();
    let arrivals = receiver.received.arrivals();
    receiver.stop().await;
    println!("ack={ack}: signals at kill: {at_kill}, duplicates after restart: {duplicates}");
    assert_complete_and_ordered(arrival_ids(&arrivals), PER_SYMBOL);
}
