//! A server that accepts, acknowledges the subscription and drops at once must not get a tight
//! reconnect loop: the backoff starts over only after a connection stayed up for the healthy
//! period, so the reconnects in a window follow the backoff's growth.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ingest::source::kraken::protocol::{self, Request};
use ingest::source::{KrakenSettings, Source};
use testkit::{brokers, create_topic, rand_topic};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::support;

/// Serves WebSocket connections that acknowledge every subscribed symbol and then close;
/// returns the URL and the count of connections accepted.
async fn acknowledge_and_drop() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    if let Ok(Request::Subscribe {
                        channel,
                        symbols,
                        req_id,
                        ..
                    }) = Request::parse(&text)
                    {
                        for s in symbols {
                            let ack = protocol::ack_frame("subscribe", &channel, &s, req_id);
                            let _ = ws.send(Message::text(ack)).await;
                        }
                        break;
                    }
                }
                // Dropped without a close frame, as a failing server would.
            });
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_then_drops_gets_a_growing_backoff() {
    let (url, accepted) = acknowledge_and_drop().await;
    let topic = rand_topic("flapping");
    create_topic(&topic, 1).await;
    let source = Source::Kraken(KrakenSettings {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        healthy_after: Duration::from_secs(60),
        ..support::kraken_at(url, &["BTC/USD".into()])
    });
    let running = support::start(support::settings(source, &brokers(), &topic));
    let window = Duration::from_secs(5);
    tokio::time::sleep(window).await;
    let metrics = running.stop().await;
    let connections = accepted.load(Ordering::Relaxed);
    // Delays of 50-100, 100-200, 200-400 ms, then 400-800 ms each: at most 4 + 5000/400
    // connections in 5 s, at least 4 + 5000/800 minus scheduling slack. A loop that starts
    // over at every acknowledgement (50-100 ms each) makes 50 or more.
    assert!(
        (3..=20).contains(&connections),
        "{connections} connections in {window:?} (reconnects {})",
        metrics.reconnects.get()
    );
}
