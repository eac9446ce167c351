//! Acknowledgement mode: a line the receiver does not acknowledge holds back the commit of its
//! partition and is sent again after the ack timeout, on a new connection (the lines after it
//! that were acknowledged are not); once acknowledged, everything is committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sink::forward::ForwardSettings;
use testkit::{create_topic, produce, rand_topic, wait_for};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::*;

/// Signal index (of BTC/USD) the receiver ignores the first time it sees it.
const IGNORED: usize = 13;
const PER_SYMBOL: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_lines_are_sent_again_and_not_committed() {
    let topic = rand_topic("sink-ack");
    create_topic(&topic, 1).await;
    let records = records(0, PER_SYMBOL);
    let ignored_id = signal("BTC/USD", IGNORED).id;
    let ignored_offset = records
        .iter()
        .position(|(_, v, _)| v.contains(&format!("\"id\":\"{ignored_id}\"")))
        .unwrap() as i64;
    produce(&topic, &records).await;

    // A receiver that acknowledges every line except the first copy of one.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let connections = Arc::new(Mutex::new(0));
    {
        let (seen, connections) = (seen.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                *connections.lock().unwrap() += 1;
                let seen = seen.clone();
                tokio::spawn(async move {
                    let (rd, mut wr) = socket.into_split();
                    let mut lines = BufReader::new(rd).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let id = serde_json::from_str::<contract::Signal>(&line).unwrap().id;
                        let copies = {
                            let mut seen = seen.lock().unwrap();
                            let c = seen.entry(id.clone()).or_default();
                            *c += 1;
                            *c
                        };
                        if id == signal("BTC/USD", IGNORED).id && copies == 1 {
                            continue;
                        }
                        if wr.write_all(format!("{id}\n").as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }

    let group = rand_group("ack");
    let forwarder = RunningForwarder::start(ForwardSettings {
        ack: true,
        ack_timeout: Duration::from_millis(8000),
        ..forward_settings(&topic, &group, addr)
    });
    let n = records.len();
    let all_seen = || seen.lock().unwrap().len() == n;
    wait_for(Duration::from_secs(30), all_seen)
        .await
        .expect("every line written once");
    // Everything before the ignored line is acknowledged and committed; it and what follows
    // are not, although written. (The ack timeout leaves 8 s to look.)
    let mut offsets = Vec::new();
    for _ in 0..30 {
        offsets = committed(&topic, &group, 1).await;
        if offsets == [ignored_offset] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        offsets,
        [ignored_offset],
        "commit stops at the unacknowledged line"
    );
    let lag = (n as i64 - ignored_offset) as f64;
    let _ = wait_for(Duration::from_secs(3), || {
        forwarder.metrics.value("lag") == lag
    })
    .await;
    assert_eq!(
        forwarder.metrics.value("lag"),
        lag,
        "lag counts from the committed offset"
    );
    assert_eq!(
        *connections.lock().unwrap(),
        1,
        "no reconnect before the ack timeout"
    );

    // After the ack timeout: a new connection, and the ignored line again.
    let _ = wait_for(Duration::from_secs(15), || {
        *connections.lock().unwrap() == 2
    })
    .await;
    let offsets = wait_committed(&topic, &group, 1, n as i64).await;
    assert_eq!(offsets, [n as i64], "all committed once acknowledged");
    let copies = seen.lock().unwrap().clone();
    let summary = forwarder.stop().await;
    assert_eq!(*connections.lock().unwrap(), 2);
    assert_eq!(copies[&ignored_id], 2);
    let resent = copies.values().filter(|&&c| c > 1).count();
    assert_eq!(resent, 1, "only the unacknowledged line is sent again");
    assert_eq!(summary.retries, 1, "{summary}");
    assert_eq!(summary.acknowledged, n as u64, "{summary}");
    assert_eq!(summary.reconnects, 1, "{summary}");
}
