//! The receiver's append file fails (`/dev/full`: every write fails with "no space left"): what
//! was not written is neither remembered nor acknowledged, so the forwarder keeps it and sends
//! it again; once a receiver can write, every signal arrives and is committed.

use std::time::Duration;

use sink::forward::ForwardSettings;
use sink::receive::ReceiveSettings;
use testkit::{create_topic, produce, rand_topic, wait_for};

use crate::support::*;

const PER_SYMBOL: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_whose_append_failed_is_not_acknowledged_and_arrives_later() {
    let topic = rand_topic("sink-append-failure");
    create_topic(&topic, 1).await;
    produce(&topic, &records(0, PER_SYMBOL)).await;
    let n = (PER_SYMBOL * SYMBOLS.len()) as u64;

    let full = RunningReceiver::start(ReceiveSettings {
        ack: true,
        append_file: Some("/dev/full".into()),
        ..quiet_receiver()
    })
    .await;
    let addr = full.addr;
    let group = rand_group("append-failure");
    let forwarder = RunningForwarder::start(ForwardSettings {
        ack: true,
        ..forward_settings(&topic, &group, addr)
    });
    // Each connection ends at the first failed append; the forwarder sends everything again on
    // the next. Three connections: the lines were sent again at least twice.
    let _ = wait_for(Duration::from_secs(30), || {
        full.metrics.value("connections_total") >= 3.0
    })
    .await;
    let before = full.stop().await;
    println!("receiver with a full disk: {before}");
    assert!(before.connections >= 2, "sent again: {before}");
    assert_eq!(
        (before.signals, before.duplicates, before.acks),
        (0, 0, 0),
        "nothing written, so nothing received, seen twice or acknowledged: {before}"
    );
    assert_eq!(committed(&topic, &group, 1).await, [0], "nothing committed");

    let dir = std::env::temp_dir().join(format!("sink-it-full-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("received.ndjson");
    let receiver = RunningReceiver::start(ReceiveSettings {
        listen: addr,
        ack: true,
        append_file: Some(file.clone()),
        fsync: true,
        ..quiet_receiver()
    })
    .await;
    receiver.wait_for_signals(n, Duration::from_secs(30)).await;
    let offsets = wait_committed(&topic, &group, 1, n as i64).await;
    assert_eq!(offsets, [n as i64], "all committed once written");
    forwarder.stop().await;
    receiver.stop().await;
    let ids: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<contract::Signal>(l).unwrap().id)
        .collect();
    assert_complete_and_ordered(ids.iter().map(String::as_str), PER_SYMBOL);
    std::fs::remove_dir_all(&dir).unwrap();
}
