//! Refused by Kafka's SASL_SSL listener: a wrong password or a CA that does not sign the
//! broker's certificate stops `ingest` with exit 7 and a message saying what to check, within
//! seconds (the Kraken source too, whose read-back of the topic at start gives up with it); a
//! broker that is merely down is retried, as before.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ingest::source::SimulateSettings;
use testkit::secure;

use crate::support;

/// `ingest simulate` into a fresh topic name on `brokers` with the options in `option_file`.
fn simulate(brokers: &str, option_file: Option<&Path>) -> Command {
    ingest(&["simulate", "--rate", "100"], brokers, option_file)
}

/// `ingest <source...>` into a fresh topic name on `brokers` with the options in `option_file`.
fn ingest(source: &[&str], brokers: &str, option_file: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ingest"));
    c.args(source)
        .args(["--brokers", brokers])
        .args(["--topic", &testkit::rand_topic("ingest-auth")])
        .env("RUST_LOG", "warn");
    if let Some(file) = option_file {
        c.arg("--kafka-option-file").arg(file);
    }
    c
}

fn assert_refused(mut ingest: Command, says: &str) {
    let started = std::time::Instant::now();
    let (code, out) = secure::run_for(&mut ingest, Duration::from_secs(30));
    assert_eq!(code, Some(7), "{out}");
    assert!(
        out.contains("refused this client") && out.contains(says),
        "{out}"
    );
    assert!(out.contains("retrying cannot fix this"), "{out}");
    secure::assert_no_secret("ingest's output", &out);
    eprintln!(
        "refused ({says}) after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn wrong_password_stops_with_exit_7() {
    let dir = secure::temp_dir("ingest-password");
    let file = secure::wrong_password(&dir);
    assert_refused(
        simulate(&testkit::secure_brokers(), Some(&file)),
        "SASL authentication error",
    );
}

#[test]
fn wrong_password_stops_the_kraken_source_too() {
    let dir = secure::temp_dir("ingest-kraken");
    let file = secure::wrong_password(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exchange = rt.block_on(support::fake_exchange(SimulateSettings::default()));
    let (url, rest_url) = (exchange.url(), exchange.rest_url());
    let source = ["kraken", "--url", &url, "--rest-url", &rest_url];
    assert_refused(
        ingest(&source, &testkit::secure_brokers(), Some(&file)),
        "SASL authentication error",
    );
    exchange.stop();
}

#[test]
fn broker_certificate_from_another_ca_stops_with_exit_7() {
    let dir = secure::temp_dir("ingest-ca");
    let file = secure::other_ca(&dir);
    assert_refused(
        simulate(&testkit::secure_brokers(), Some(&file)),
        "certificate verify failed",
    );
}

#[test]
fn broker_down_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, out) = secure::run_for(
        &mut simulate(&format!("127.0.0.1:{port}"), None),
        Duration::from_secs(8),
    );
    assert_eq!(code, None, "ingest stopped with no broker to reach:\n{out}");
}
