//! The receiver goes down in the middle of a burst for 20 s while the stream goes on, and comes
//! back: every signal arrives; duplicates
//! come only from the at-least-once overlap, and the receiver (which reloads the ids already in
//! its append file) removes them by id. Run with and without acknowledgements.

use std::time::Duration;

use sink::forward::ForwardSettings;
use sink::receive::ReceiveSettings;
use testkit::{create_topic, produce, rand_topic};

use crate::support::*;

/// Signals per symbol: a slow start, a burst (during which the receiver goes down), then a slow
/// stream that goes on through the outage.
const SLOW_START: usize = 300;
const BURST_END: usize = 10_300;
const PER_SYMBOL: usize = 11_200;
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
    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            let slow = |from: usize, to: usize| {
                let topic = topic.clone();
                async move {
                    for from in (from..to).step_by(CHUNK) {
                        produce(&topic, &records(from, from + CHUNK)).await;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
            };
            slow(0, SLOW_START).await;
            produce(&topic, &records(SLOW_START, BURST_END)).await;
            slow(BURST_END, PER_SYMBOL).await;
        })
    };

    let dir = std::env::temp_dir().join(format!("sink-it-outage-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("received.ndjson");
    let settings = ReceiveSettings {
        ack,
        append_file: Some(file.clone()),
        ..quiet_receiver()
    };
    let first = RunningReceiver::start(settings.clone()).await;
    let first_addr = first.addr;

    let group = rand_group("outage");
    let mut forward = ForwardSettings {
        ack,
        ..forward_settings(&topic, &group, first_addr)
    };
    if ack {
        forward = ForwardSettings {
            ack_timeout: Duration::from_millis(2000),
            ..forward
        };
    }
    let forwarder = RunningForwarder::start(forward);
    // Stop the receiver in the middle of the burst, lines in flight in both directions.
    let mid_burst = (SYMBOLS.len() * (SLOW_START + 3000)) as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while first.received.signals() < mid_burst {
        assert!(std::time::Instant::now() < deadline, "burst never arrived");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let before = first.stop().await;
    assert!(
        before.signals < (SYMBOLS.len() * BURST_END) as u64,
        "the outage must start mid-burst: {before}"
    );

    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(
        forwarder.metrics.value("connect_failures_total") >= 1.0,
        "the forwarder kept trying while the receiver was down"
    );
    let second = RunningReceiver::start(ReceiveSettings {
        listen: first_addr,
        ..settings
    })
    .await;
    producer.await.unwrap();
    second
        .wait_for_signals(n - before.signals, Duration::from_secs(60))
        .await;
    let after = second.stop().await;
    let summary = forwarder.stop().await;

    let lines = std::fs::read_to_string(&file).unwrap();
    let ids: Vec<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<contract::Signal>(l).unwrap().id)
        .collect();
    assert_complete_and_ordered(ids.iter().map(String::as_str), PER_SYMBOL);
    println!(
        "ack={ack}: before outage {before}; after {after}; forwarder {summary}; committed {:?}",
        committed(&topic, &group, 4).await
    );
    assert!(summary.reconnects >= 1, "{summary}");
    assert!(
        summary.retries > 0,
        "lines in flight at the outage were sent again: {summary}"
    );
    assert_eq!(before.duplicates, 0, "no duplicates before the outage");
    // Everything the second receiver saw beyond the new signals was re-sent by the forwarder.
    assert!(after.duplicates <= summary.retries, "{after} / {summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}
