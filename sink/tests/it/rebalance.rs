//! Two forwarders share one consumer group: partitions move between them when the second joins
//! and when the first leaves, and no signal is lost on the way.

use std::time::Duration;

use testkit::{create_topic, produce, rand_topic};

use crate::support::*;

const PER_SYMBOL: usize = 2400;
const CHUNK: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_move_between_forwarders_without_loss() {
    let topic = rand_topic("sink-rebalance");
    create_topic(&topic, 4).await;
    let n = (PER_SYMBOL * SYMBOLS.len()) as u64;
    let producer = {
        let topic = topic.clone();
        tokio::spawn(async move {
            for from in (0..PER_SYMBOL).step_by(CHUNK) {
                produce(&topic, &records(from, from + CHUNK)).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let receiver = RunningReceiver::quiet(false).await;
    let group = rand_group("rebalance");
    let settings = forward_settings(&topic, &group, receiver.addr);

    let first = RunningForwarder::start(settings.clone());
    receiver
        .wait_for_signals(n / 5, Duration::from_secs(60))
        .await;
    let second = RunningForwarder::start(settings);
    receiver
        .wait_for_signals(n / 2, Duration::from_secs(60))
        .await;
    let first = first.stop().await;
    producer.await.unwrap();
    receiver.wait_for_signals(n, Duration::from_secs(60)).await;
    let offsets = wait_committed(&topic, &group, 4, n as i64).await;
    let second = second.stop().await;
    assert_eq!(
        offsets.iter().sum::<i64>(),
        n as i64,
        "all committed: {offsets:?}"
    );
    println!("first {first}\nsecond {second}");
    assert!(
        second.forwarded > 0,
        "the second forwarder took partitions over"
    );

    let arrivals = receiver.received.arrivals();
    receiver.stop().await;
    assert_complete_and_ordered(arrival_ids(&arrivals), PER_SYMBOL);
}
