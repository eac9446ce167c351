//! The receiver is down for 20 s mid-stream and comes back: every signal arrives; duplicates
//! come only from the at-least-once overlap, and the receiver (which reloads the ids already in
//! its append file) removes them by id. Run with and without acknowledgements.

use std::time::Duration;

use common::testing::{create_topic, produce, rand_topic};
use sink::receive::ReceiveConfig;

use crate::support::*;

const PER_SYMBOL: usize = 3000;
const CHUNK: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_20_s_without_acks() {
    receiver_down_for_20_s(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_20_s_with_acks() {
    receiver_down_for_20_s(true).await;
}

async fn receiver_down_for_20_s(ack: bool) {
    let topic = rand_topic("sink-outage");
    create_topic(&topic, 4).await;
    let n = (PER_SYMBOL * SYMBOLS.len()) as u64;
    // The stream keeps flowing through the outage: a chunk every 300 ms for ~30 s.
    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            for from in (0..PER_SYMBOL).step_by(CHUNK) {
                produce(&topic, &records(from, from + CHUNK)).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };

    let dir = std::env::temp_dir().join(format!("sink-it-outage-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("received.ndjson");
    let mut config = ReceiveConfig::quiet("127.0.0.1:0".parse().unwrap());
    config.ack = ack;
    config.append_file = Some(file.clone());
    let first = RunningReceiver::start(config.clone()).await;
    config.listen = first.addr;

    let group = rand_group("outage");
    let mut extra = vec![];
    if ack {
        extra.extend(["--ack", "--ack-timeout-ms", "2000"]);
    }
    let forwarder = RunningForwarder::start(forward_config(&topic, &group, first.addr, &extra));
    first.wait_for_signals(1000, Duration::from_secs(60)).await;
    let before = first.stop().await;
    assert!(!producer.is_finished(), "the outage must start mid-stream");

    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(
        forwarder.metrics.value("connect_failures_total") >= 1.0,
        "the forwarder kept trying while the receiver was down"
    );
    let second = RunningReceiver::start(config).await;
    producer.await.unwrap();
    second
        .wait_for_signals(n - before.signals, Duration::from_secs(60))
        .await;
    let after = second.stop().await;
    let summary = forwarder.stop().await;

    let lines = std::fs::read_to_string(&file).unwrap();
    let ids: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<common::Signal>(l).unwrap().id)
        .collect();
    assert_complete_and_ordered(ids.iter().map(String::as_str), PER_SYMBOL);
    println!(
        "ack={ack}: before outage {before}; after {after}; forwarder {summary}; committed {:?}",
        committed(&topic, &group, 4).await
    );
    assert!(summary.reconnects >= 1, "{summary}");
    assert_eq!(before.duplicates, 0, "no duplicates before the outage");
    // Everything the second receiver saw beyond the new signals was re-sent by the forwarder.
    assert!(after.duplicates <= summary.retries, "{after} / {summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}
