//! A peer that accepts each connection and closes it at once: the forwarder's reconnects follow
//! its backoff (the delays keep growing, since no connection stays up for the healthy period),
//! instead of a tight loop of connect, resend, close.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sink::forward::ForwardSettings;
use testkit::{create_topic, produce, rand_topic, wait_for};
use tokio::net::TcpListener;

use crate::support::*;

/// How long connections are counted.
const WINDOW: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_accepts_and_closes_gets_the_backoff_not_a_tight_loop() {
    let topic = rand_topic("sink-flapping");
    create_topic(&topic, 1).await;
    produce(&topic, &records(0, 5)).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let settings = ForwardSettings {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..forward_settings(&topic, &rand_group("flapping"), addr)
    };
    let most = most_attempts(&settings, WINDOW);
    let forwarder = RunningForwarder::start(settings);
    wait_for(Duration::from_secs(30), || {
        accepted.load(Ordering::SeqCst) >= 1
    })
    .await
    .expect("a first connection");
    let before = accepted.load(Ordering::SeqCst);
    tokio::time::sleep(WINDOW).await;
    let attempts = accepted.load(Ordering::SeqCst) - before;
    let summary = forwarder.stop().await;
    println!("{attempts} connections in {WINDOW:?} (at most {most} with the backoff); {summary}");
    assert!(attempts >= 2, "it kept reconnecting: {attempts}");
    assert!(
        attempts <= most,
        "{attempts} connections in {WINDOW:?}: more than the backoff allows ({most})"
    );
}

/// The most connection attempts the backoff allows within `window`: every delay is at least
/// half its ceiling, and the ceilings double from the initial delay up to the maximum.
fn most_attempts(settings: &ForwardSettings, window: Duration) -> usize {
    let (mut ceiling, mut elapsed, mut attempts) = (settings.backoff_initial, Duration::ZERO, 1);
    loop {
        elapsed += ceiling / 2;
        if elapsed > window {
            return attempts;
        }
        attempts += 1;
        ceiling = (ceiling * 2).min(settings.backoff_max);
    }
}
