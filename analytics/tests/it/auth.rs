//! The Connect server's token through the binary: without one, or with the wrong one, every
//! command is refused with exit 6 and a message saying where the token goes; with it,
//! `submit --check`, `explain` and `status` of a strategy reading and writing over Kafka's
//! SASL_SSL listener work and show none of the stack's secrets.

use std::process::Command;

use testkit::secure::{self, assert_no_secret};

use crate::support;

/// The binary with `args` and no token but what `token` sets up.
fn analytics(args: &[&str], token: impl FnOnce(&mut Command)) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_analytics"));
    c.args(args)
        .env("ANALYTICS_SESSION_ID", support::connection().session_id)
        .env("SPARK_REMOTE", support::connection().remote)
        .env("RUST_LOG", "info")
        .env_remove("SPARK_CONNECT_AUTHENTICATE_TOKEN")
        .env_remove("SPARK_CONNECT_TOKEN_FILE");
    token(&mut c);
    let out = c.output().expect("run the analytics binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn no_token_or_a_wrong_one_is_refused_with_exit_6() {
    let wrong = uuid::Uuid::new_v4().simple().to_string();
    for (what, code, out) in [
        ("no token", analytics(&["list"], |_| {})),
        (
            "a wrong token",
            analytics(&["list"], |c| {
                c.env("SPARK_CONNECT_AUTHENTICATE_TOKEN", &wrong);
            }),
        ),
    ]
    .map(|(what, (code, out))| (what, code, out))
    {
        assert_eq!(code, 6, "{what}: {out}");
        assert!(
            out.contains("UNAUTHENTICATED") && out.contains("SPARK_CONNECT_TOKEN_FILE"),
            "{what}: {out}"
        );
        assert!(
            !out.contains(&wrong),
            "{what}: the wrong token shows: {out}"
        );
        assert_no_secret(what, &out);
    }
}

#[test]
fn secure_strategy_is_checked_explained_and_reported_without_secrets() {
    let dir = secure::temp_dir("analytics");
    let token_file = testkit::secrets_dir().join("connect.token");
    let name = format!("secure_{}", uuid::Uuid::new_v4().simple());
    let options = format!(
        "{{ \"kafka.security.protocol\" = \"SASL_SSL\", \"kafka.sasl.mechanism\" = \
         \"SCRAM-SHA-512\", \"kafka.ssl.truststore.type\" = \"PEM\", \
         \"kafka.ssl.truststore.location\" = \"{}\" }}",
        secure::ca().display()
    );
    let brokers = testkit::secure_brokers();
    let strategy = dir.join("secure.toml");
    std::fs::write(
        &strategy,
        format!(
            "name = \"{name}\"\n[source]\nbrokers = \"{brokers}\"\ntopic = \"{name}-trades\"\n\
             options = {options}\n[sink]\nbrokers = \"{brokers}\"\ntopic = \"{name}-signals\"\n\
             options = {options}\n"
        ),
    )
    .unwrap();
    let strategy = strategy.to_str().unwrap();
    let with_token = |c: &mut Command| {
        c.arg("--token-file").arg(&token_file);
    };
    let (code, out) = analytics(&["submit", "--check", "-c", strategy], with_token);
    assert_eq!(code, 0, "{out}");
    assert_no_secret("submit --check", &out);
    let (code, out) = analytics(&["explain", "-c", strategy], with_token);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("SASL_SSL"),
        "explain shows no Kafka options: {out}"
    );
    assert_no_secret("explain", &out);
    let (code, out) = analytics(&["status"], with_token);
    assert_eq!(code, 0, "{out}");
    assert_no_secret("status", &out);
    let _ = std::fs::remove_dir_all(dir);
}
