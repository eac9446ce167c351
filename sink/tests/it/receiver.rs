//! The receiver alone (no Kafka): several connections, de-duplication across them, acks for
//! every signal line, bad lines skipped and counted, the append file surviving a restart.

use std::time::Duration;

use sink::receive::ReceiveSettings;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedups_across_connections_acks_and_skips_bad_lines() {
    let dir = std::env::temp_dir().join(format!("sink-it-recv-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("signals.ndjson");
    let settings = ReceiveSettings {
        ack: true,
        append_file: Some(file.clone()),
        ..quiet_receiver()
    };
    let receiver = RunningReceiver::start(settings.clone()).await;

    let line = |i: usize| {
        format!(
            "{}\n",
            serde_json::to_string(&signal("BTC/USD", i)).unwrap()
        )
    };
    let mut a = TcpStream::connect(receiver.addr).await.unwrap();
    let mut b = TcpStream::connect(receiver.addr).await.unwrap();
    // `a` first, then `b`, so the append file's order is known.
    a.write_all(format!("{}{}not json\n{}", line(0), line(1), line(2)).as_bytes())
        .await
        .unwrap();
    let acks_a = read_lines(&mut a, 3).await;
    b.write_all(format!("{}\n{{\"id\":\"x\"}}\n{}", line(1), line(3)).as_bytes())
        .await
        .unwrap();
    let acks_b = read_lines(&mut b, 2).await;
    assert_eq!(acks_a, [0, 1, 2].map(|i| signal("BTC/USD", i).id));
    assert_eq!(
        acks_b,
        [1, 3].map(|i| signal("BTC/USD", i).id),
        "duplicates are acked too"
    );
    receiver.wait_for_signals(4, Duration::from_secs(5)).await;
    assert_eq!(receiver.metrics.value("received_lines_total"), 8.0);
    drop((a, b));
    let summary = receiver.stop().await;
    assert_eq!(
        (
            summary.signals,
            summary.duplicates,
            summary.skipped,
            summary.acks,
            summary.connections
        ),
        (4, 1, 3, 5, 2),
        "{summary}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 4);

    // A restarted receiver remembers the ids in its append file.
    let receiver = RunningReceiver::start(settings).await;
    let mut c = TcpStream::connect(receiver.addr).await.unwrap();
    c.write_all(format!("{}{}", line(2), line(4)).as_bytes())
        .await
        .unwrap();
    read_lines(&mut c, 2).await;
    let summary = receiver.stop().await;
    assert_eq!((summary.signals, summary.duplicates), (1, 1), "{summary}");
    let ids: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<contract::Signal>(l).unwrap().id)
        .collect();
    assert_eq!(
        ids,
        (0..5).map(|i| signal("BTC/USD", i).id).collect::<Vec<_>>()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn read_lines(stream: &mut TcpStream, n: usize) -> Vec<String> {
    let mut reader = BufReader::new(stream);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
            .await
            .expect("ack within 5 s")
            .unwrap();
        out.push(line.trim_end().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_an_endless_line_is_cut_off_and_others_are_served() {
    let receiver = RunningReceiver::quiet(true).await;
    let mut endless = TcpStream::connect(receiver.addr).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut cut_off = false;
    for _ in 0..64 {
        // 4 MiB without a newline; the receiver closes the connection after 1 MiB.
        if endless.write_all(&chunk).await.is_err() {
            cut_off = true;
            break;
        }
    }
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), endless.read(&mut buf)).await;
    assert!(
        cut_off || matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "connection not closed"
    );

    let mut other = TcpStream::connect(receiver.addr).await.unwrap();
    let line = format!(
        "{}\n",
        serde_json::to_string(&signal("ETH/USD", 1)).unwrap()
    );
    other.write_all(line.as_bytes()).await.unwrap();
    assert_eq!(read_lines(&mut other, 1).await, [signal("ETH/USD", 1).id]);
    receiver.stop().await;
}
