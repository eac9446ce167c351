//! Records that are not signals are counted by kind, copied to the dead-letter topic, never
//! forwarded, and do not stop the stream or hold back commits.

use std::time::Duration;

use sink::forward::ForwardSettings;
use testkit::{consume_until, create_topic, produce, rand_topic};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_are_skipped_counted_and_dead_lettered() {
    let topic = rand_topic("sink-malformed");
    let dead = rand_topic("sink-dead");
    create_topic(&topic, 1).await;
    create_topic(&dead, 1).await;
    let good = records(0, 4); // 12 signals
    let bad = |v: &str| ("BTC/USD".to_string(), v.to_string(), now_ms());
    let mut all = Vec::new();
    for (k, record) in good.into_iter().enumerate() {
        all.push(record);
        match k {
            2 => all.push(bad("not json at all")),
            5 => all.push(bad(r#"{"id":"half a signal"}"#)),
            8 => all.push(bad("   ")),
            9 => all.push(bad(r#"{"id":1,"action":"MAYBE"}"#)),
            _ => {}
        }
    }
    produce(&topic, &all).await;

    let receiver = RunningReceiver::quiet(false).await;
    let group = rand_group("malformed");
    let forwarder = RunningForwarder::start(ForwardSettings {
        dead_letter_topic: Some(dead.clone()),
        ack: false,
        ..forward_settings(&topic, &group, receiver.addr)
    });
    receiver.wait_for_signals(12, Duration::from_secs(30)).await;
    let offsets = wait_committed(&topic, &group, 1, 16).await;
    assert_eq!(
        offsets,
        [16],
        "bad records are committed past once dead-lettered"
    );

    let m = &forwarder.metrics;
    let text = m.render();
    assert!(
        text.contains("sink_skipped_total{kind=\"not_json\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("sink_skipped_total{kind=\"not_a_signal\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("sink_skipped_total{kind=\"empty\"} 1\n"),
        "{text}"
    );
    assert_eq!(m.value("dead_lettered_total"), 4.0, "{text}");
    let summary = forwarder.stop().await;
    assert_eq!((summary.forwarded, summary.skipped), (12, 4));

    let copies = consume_until(&dead, Duration::from_secs(15), |r| r.len() >= 4).await;
    let mut values: Vec<_> = copies
        .iter()
        .map(|r| r.value.clone().unwrap_or_default())
        .collect();
    values.sort();
    assert_eq!(
        values,
        [
            "   ",
            "not json at all",
            r#"{"id":"half a signal"}"#,
            r#"{"id":1,"action":"MAYBE"}"#
        ]
    );
    let got = receiver.stop().await;
    assert_eq!(
        (got.signals, got.skipped),
        (12, 0),
        "only signals reach the receiver"
    );
}
