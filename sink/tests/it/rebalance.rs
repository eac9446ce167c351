//! Two forwarders share one consumer group: partitions move between them when the second joins
//! and when the first leaves, and no signal is lost on the way. With each assignment protocol:
//! eager (librdkafka's default), cooperative (`cooperative-sticky`) and the broker-side one of
//! KIP-848 (`group.protocol=consumer`), where a member keeps the partitions that do not move.

use std::time::Duration;

use service::kafka::KafkaSettings;
use sink::forward::ForwardSettings;
use sink::receive::ReceiveSettings;
use testkit::{create_topic, produce, rand_topic, wait_for};

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
    let settings = ForwardSettings {
        ack: false,
        ..forward_settings(&topic, &group, receiver.addr)
    };

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_lines_survive_an_eager_rebalance() {
    unacknowledged_lines_survive_a_rebalance("eager", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_lines_survive_a_cooperative_rebalance() {
    unacknowledged_lines_survive_a_rebalance(
        "cooperative",
        &[("partition.assignment.strategy", "cooperative-sticky")],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_lines_survive_a_consumer_protocol_rebalance() {
    unacknowledged_lines_survive_a_rebalance("kip848", &[("group.protocol", "consumer")]).await;
}

/// The first forwarder holds every record of the topic in its window, written to a receiver
/// that reads but never acknowledges, when a second one joins the group: the first keeps some
/// partitions (incremental protocols) or gets them back (eager). More records follow. Then the
/// receiver is replaced by one that acknowledges and writes, and the second forwarder leaves:
/// every signal must reach the new receiver (none forgotten by the first forwarder while its
/// fetch position moved on), and the group must commit them all.
async fn unacknowledged_lines_survive_a_rebalance(name: &str, options: &[(&str, &str)]) {
    const BEFORE: usize = 100;
    const PER_SYMBOL: usize = 200;
    let topic = rand_topic(&format!("sink-rebalance-{name}"));
    // Three symbols in four partitions: at most one partition is empty, so whichever two the
    // first forwarder keeps, one of them holds records.
    create_topic(&topic, 4).await;
    produce(&topic, &records(0, BEFORE)).await;
    let before = (BEFORE * SYMBOLS.len()) as u64;
    let n = (PER_SYMBOL * SYMBOLS.len()) as u64;

    let mute = RunningReceiver::quiet(false).await;
    let addr = mute.addr;
    let group = rand_group(&format!("rebalance-{name}"));
    let base = forward_settings(&topic, &group, addr);
    let settings = ForwardSettings {
        ack: true,
        ack_timeout: Duration::from_secs(120),
        kafka: KafkaSettings {
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..base.kafka.clone()
        },
        ..base
    };
    let first = RunningForwarder::start(settings.clone());
    wait_for(Duration::from_secs(30), || {
        first.metrics.value("in_flight") == before as f64
    })
    .await
    .expect("the first forwarder holds every record, unacknowledged");

    let second = RunningForwarder::start(settings);
    wait_for(Duration::from_secs(60), || {
        second.metrics.value("consumed_total") > 0.0
    })
    .await
    .expect("the second forwarder gets partitions");
    produce(&topic, &records(BEFORE, PER_SYMBOL)).await;
    mute.wait_for_signals(n, Duration::from_secs(60)).await;
    mute.stop().await;
    println!("{name}: every line written to the receiver that does not acknowledge");

    let receiver = RunningReceiver::start(ReceiveSettings {
        listen: addr,
        ack: true,
        ..quiet_receiver()
    })
    .await;
    let second = second.stop().await;
    receiver.wait_for_signals(n, Duration::from_secs(60)).await;
    let offsets = wait_committed(&topic, &group, 4, n as i64).await;
    let first = first.stop().await;
    println!("{name}: first {first}\nsecond {second}\ncommitted {offsets:?}");
    assert_eq!(offsets.iter().sum::<i64>(), n as i64, "all committed");
    assert!(second.forwarded > 0, "the second forwarder took partitions");
    let arrivals = receiver.received.arrivals();
    receiver.stop().await;
    assert_complete_and_ordered(arrival_ids(&arrivals), PER_SYMBOL);
}
