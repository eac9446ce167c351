//! Acknowledgement mode: a line the receiver does not acknowledge holds back the commit of its
//! partition and is sent again after the ack timeout, on a new connection (the lines after it
//! that were acknowledged are not); once acknowledged, everything is committed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sink::forward::{ForwardError, ForwardSettings, Forwarder};
use testkit::{consume_until, create_topic, produce, rand_topic, wait_for};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::*;

/// Signal index (of BTC/USD) the receiver ignores the first time it sees it.
const IGNORED: usize = 13;
const PER_SYMBOL: usize = 40;

fn ignored_id_of() -> String {
    signal("BTC/USD", IGNORED).id
}

/// A receiver that acknowledges every line except those `skip(id, copies so far)` picks.
struct PickyReceiver {
    addr: SocketAddr,
    /// Copies received per id.
    seen: Arc<Mutex<HashMap<String, usize>>>,
    connections: Arc<Mutex<usize>>,
}

impl PickyReceiver {
    async fn start(skip: impl Fn(&str, usize) -> bool + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let connections = Arc::new(Mutex::new(0));
        let skip = Arc::new(skip);
        let (seen2, connections2) = (seen.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                *connections2.lock().unwrap() += 1;
                let (seen, skip) = (seen2.clone(), skip.clone());
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
                        if skip(&id, copies) {
                            continue;
                        }
                        if wr.write_all(format!("{id}\n").as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            addr,
            seen,
            connections,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_lines_are_sent_again_and_not_committed() {
    let topic = rand_topic("sink-ack");
    create_topic(&topic, 1).await;
    let records = records(0, PER_SYMBOL);
    let ignored_id = ignored_id_of();
    let ignored_offset = offset_of(&records, &ignored_id);
    produce(&topic, &records).await;

    // A receiver that acknowledges every line except the first copy of one.
    let picky = PickyReceiver::start(move |id, copies| id == ignored_id_of() && copies == 1).await;
    let (addr, seen, connections) = (picky.addr, picky.seen.clone(), picky.connections.clone());

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_never_acknowledged_is_dead_lettered_and_the_rest_committed() {
    let dead = rand_topic("sink-unacked-dead");
    create_topic(&dead, 1).await;
    let (records, picky, settings) = one_id_never_acknowledged("unacked", 4).await;
    let (topic, group) = (settings.topic.clone(), settings.group_id.clone());
    let n = records.len() as i64;
    let forwarder = RunningForwarder::start(ForwardSettings {
        dead_letter_topic: Some(dead.clone()),
        ..settings
    });
    let copies = consume_until(&dead, Duration::from_secs(60), |r| !r.is_empty()).await;
    let offsets = wait_committed(&topic, &group, 4, n).await;
    let sent = picky.seen.lock().unwrap()[&ignored_id_of()];
    let summary = forwarder.stop().await;
    println!("{summary}; the ignored line was sent {sent} times; committed {offsets:?}");
    assert_eq!(copies.len(), 1, "one dead-letter copy");
    let value = copies[0].value.clone().unwrap_or_default();
    let copied: contract::Signal = serde_json::from_str(&value).expect("the line as sent");
    assert_eq!(copied.id, ignored_id_of());
    assert_eq!(sent, 3, "given up after --ack-tries tries");
    assert_eq!(offsets.iter().sum::<i64>(), n, "everything committed");
    assert_eq!(summary.acknowledged, n as u64 - 1, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dead_letter_topic_a_line_never_acknowledged_stops_the_forwarder() {
    let (records, picky, settings) = one_id_never_acknowledged("unacked-stop", 1).await;
    let (topic, group) = (settings.topic.clone(), settings.group_id.clone());
    let ignored_offset = offset_of(&records, &ignored_id_of());
    let forwarder = Forwarder::new(settings).unwrap();
    let (_trigger, shutdown) = service::shutdown::channel();
    let result = tokio::time::timeout(Duration::from_secs(60), forwarder.run(shutdown))
        .await
        .expect("the forwarder stops by itself");
    let err = result.expect_err("stops with an error");
    let message = err.to_string();
    assert!(
        matches!(err, ForwardError::Unacknowledged { .. }),
        "{message}"
    );
    assert!(message.contains(&ignored_id_of()), "{message}");
    assert_eq!(picky.seen.lock().unwrap()[&ignored_id_of()], 3);
    assert_eq!(
        committed(&topic, &group, 1).await,
        [ignored_offset],
        "committed up to the line given up, not past it"
    );
}

/// A topic of `partitions` with signals, a receiver that acknowledges every line but those
/// of one signal, and forwarder settings that give a line up after 3 one-second tries.
async fn one_id_never_acknowledged(
    name: &str,
    partitions: i32,
) -> (Vec<(String, String, i64)>, PickyReceiver, ForwardSettings) {
    let topic = rand_topic(&format!("sink-{name}"));
    create_topic(&topic, partitions).await;
    let records = records(0, PER_SYMBOL);
    produce(&topic, &records).await;
    let picky = PickyReceiver::start(|id, _| id == ignored_id_of()).await;
    let settings = ForwardSettings {
        ack: true,
        ack_timeout: Duration::from_millis(1000),
        ack_tries: 3,
        ..forward_settings(&topic, &rand_group(name), picky.addr)
    };
    (records, picky, settings)
}

/// Offset of the record with signal `id` in a one-partition topic.
fn offset_of(records: &[(String, String, i64)], id: &str) -> i64 {
    records
        .iter()
        .position(|(_, v, _)| v.contains(&format!("\"id\":\"{id}\"")))
        .unwrap() as i64
}
