//! The happy path: every signal arrives, in order per symbol, and the group commits them all.

use std::time::Duration;

use contract::Action;
use sink::forward::ForwardSettings;
use sink::{Filter, Format};
use testkit::{create_topic, produce, rand_topic, wait_for};
use tokio::io::AsyncBufReadExt;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_arrives_in_order_per_symbol_and_is_committed() {
    const PER_SYMBOL: usize = 3000;
    let topic = rand_topic("sink-forward");
    create_topic(&topic, 4).await;
    produce(&topic, &records(0, PER_SYMBOL)).await;
    let n = (PER_SYMBOL * SYMBOLS.len()) as u64;

    let receiver = RunningReceiver::quiet(false).await;
    let group = rand_group("forward");
    let forwarder = RunningForwarder::start(ForwardSettings {
        ack: false,
        max_in_flight: 500,
        ..forward_settings(&topic, &group, receiver.addr)
    });
    // The whole backlog waits in Kafka; the window never holds more than its cap.
    let mut max_in_flight = 0.0f64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while receiver.received.signals() < n && std::time::Instant::now() < deadline {
        max_in_flight = max_in_flight.max(forwarder.metrics.value("in_flight"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    receiver.wait_for_signals(n, Duration::from_secs(1)).await;
    assert!(max_in_flight <= 500.0, "in flight {max_in_flight}");

    // The commit interval is 200 ms: every record gets committed soon.
    let offsets = wait_committed(&topic, &group, 4, n as i64).await;
    assert_eq!(
        offsets.iter().sum::<i64>(),
        n as i64,
        "committed {offsets:?}"
    );

    let summary = forwarder.stop().await;
    let got = receiver.stop().await;
    assert_eq!(summary.consumed, n);
    assert_eq!(summary.forwarded, n);
    assert_eq!(got.duplicates, 0, "no failure, so no duplicates");
    assert_eq!(got.signals, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_signals_and_text_format_writes_one_line_each() {
    let topic = rand_topic("sink-filter");
    create_topic(&topic, 1).await;
    produce(&topic, &records(0, 10)).await;

    // A plain TCP reader stands in for a system that reads text lines.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let group = rand_group("filter");
    let forwarder = RunningForwarder::start(ForwardSettings {
        filter: Filter {
            symbols: vec!["ETH/USD".into()],
            actions: vec![Action::Buy],
            ..Default::default()
        },
        format: Format::Text,
        ack: false,
        ..forward_settings(&topic, &group, addr)
    });
    let (socket, _) = listener.accept().await.unwrap();
    let mut lines = tokio::io::BufReader::new(socket).lines();
    let mut got = Vec::new();
    while got.len() < 5 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a line within 30 s")
            .unwrap()
            .expect("connection open");
        got.push(line);
    }
    for (k, line) in got.iter().enumerate() {
        let i = 2 * k; // even bars are BUY
        assert_eq!(
            line,
            &format!(
                "{} BUY ETH/USD it close={} reasons=sma_cross_up id=it|ETH/USD|{}",
                bar_end(i).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                100.5 + i as f64,
                bar_end(i).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
        );
    }
    let _ = wait_for(Duration::from_secs(10), || {
        forwarder.metrics.value("filtered_total") >= 25.0
    })
    .await;
    let summary = forwarder.stop().await;
    assert_eq!((summary.forwarded, summary.filtered), (5, 25));
    assert_eq!(
        committed(&topic, &group, 1).await,
        [30],
        "filtered records are committed too"
    );
}
