//! Refused by Kafka's SASL_SSL listener: a wrong password or a CA that does not sign the
//! broker's certificate stops `sink forward` with exit 7 and a message saying what to check,
//! within seconds; a broker that is merely down is retried, as before.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::secure;

/// `sink forward` from `brokers` (options in `option_file`) to `endpoint`, which accepts
/// connections (the forwarder consumes only while connected) and reads nothing.
fn forward(brokers: &str, option_file: Option<&Path>, endpoint: &TcpListener) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sink"));
    c.args(["forward", "--brokers", brokers])
        .args(["--topic", &testkit::rand_topic("sink-auth")])
        .args(["--group-id", &testkit::rand_topic("sink-auth-group")])
        .args(["--endpoint", &endpoint.local_addr().unwrap().to_string()])
        .env("RUST_LOG", "warn");
    if let Some(file) = option_file {
        c.arg("--kafka-option-file").arg(file);
    }
    c
}

fn endpoint() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn assert_refused(option_file: &Path, says: &str) {
    let endpoint = endpoint();
    let (code, out) = secure::run_for(
        &mut forward(&testkit::secure_brokers(), Some(option_file), &endpoint),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(7), "{out}");
    assert!(
        out.contains("refused this client") && out.contains(says),
        "{out}"
    );
    assert!(out.contains("retrying cannot fix this"), "{out}");
    secure::assert_no_secret("sink forward's output", &out);
}

#[test]
fn wrong_password_stops_the_forwarder_with_exit_7() {
    let dir = secure::temp_dir("sink-password");
    assert_refused(&secure::wrong_password(&dir), "SASL authentication error");
}

#[test]
fn broker_certificate_from_another_ca_stops_the_forwarder_with_exit_7() {
    let dir = secure::temp_dir("sink-ca");
    assert_refused(&secure::other_ca(&dir), "certificate verify failed");
}

#[test]
fn broker_down_is_retried_by_the_forwarder() {
    let port = endpoint().local_addr().unwrap().port();
    let endpoint = endpoint();
    let (code, out) = secure::run_for(
        &mut forward(&format!("127.0.0.1:{port}"), None, &endpoint),
        Duration::from_secs(8),
    );
    assert_eq!(
        code, None,
        "the forwarder stopped with no broker to reach:\n{out}"
    );
}
