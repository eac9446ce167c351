//! The real `sink forward` binary killed with SIGKILL mid-stream and started again: nothing is
//! lost (it resumes from the last committed offsets); then stopped with SIGTERM, it exits 0.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::testing::{create_topic, produce, rand_topic};
use tokio::process::{Child, Command};

use crate::support::*;

const PER_SYMBOL: usize = 2000;

fn start_forwarder(topic: &str, group: &str, endpoint: SocketAddr) -> Child {
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
        .env("KAFKA_BROKERS", common::testing::brokers())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the sink binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing() {
    let topic = rand_topic("sink-sigkill");
    create_topic(&topic, 4).await;
    let n = (PER_SYMBOL * SYMBOLS.len()) as u64;
    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            for from in (0..PER_SYMBOL).step_by(100) {
                produce(&topic, &records(from, from + 100)).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let receiver = RunningReceiver::quiet(false).await;
    let group = rand_group("sigkill");

    let mut child = start_forwarder(&topic, &group, receiver.addr);
    receiver
        .wait_for_signals(1500, Duration::from_secs(60))
        .await;
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not exited: {status}");
    let at_kill = receiver.received.signals();
    assert!(at_kill < n, "the kill must happen mid-stream");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut child = start_forwarder(&topic, &group, receiver.addr);
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
    println!("signals at kill: {at_kill}, duplicates after restart: {duplicates}");
    assert_complete_and_ordered(arrival_ids(&arrivals), PER_SYMBOL);
}
