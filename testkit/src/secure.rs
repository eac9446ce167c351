//! The local stack's secure side for tests: the SASL_SSL listener's client settings (and
//! broken copies of them the brokers must refuse), every secret the stack holds, for tests
//! that check no output shows one, and CAs of a test's own for mutual TLS.
//!
//! Everything is read from [`crate::secrets_dir`], which `spark/stack up` fills.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// The librdkafka settings file of the SASL_SSL listener (`kafka-client.properties`). Panics
/// with instructions when the stack has not made it.
pub fn option_file() -> PathBuf {
    let file = crate::secrets_dir().join("kafka-client.properties");
    assert!(
        file.is_file(),
        "{} not found: start the stack with `spark/stack up` (a test run from another checkout \
         sets STACK_DIR to the running stack's folder)",
        file.display()
    );
    file
}

/// The settings of [`option_file`] as `(key, value)` pairs.
pub fn options() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(option_file()).expect("read the Kafka option file");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The stack's CA (`ca.pem`), which the SASL_SSL listener's certificate is signed by.
pub fn ca() -> PathBuf {
    crate::secrets_dir().join("ca.pem")
}

/// A copy of [`option_file`] in `dir` whose settings differ by `changes` (each replaces the
/// key's value).
pub fn option_file_with(dir: &Path, name: &str, changes: &[(&str, &str)]) -> PathBuf {
    let mut text = String::new();
    for (key, value) in options() {
        let value = changes
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(value, |(_, v)| v.to_string());
        text.push_str(&format!("{key}={value}\n"));
    }
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write an option file");
    file
}

/// The stack's settings with a wrong SCRAM password.
pub fn wrong_password(dir: &Path) -> PathBuf {
    option_file_with(
        dir,
        "wrong-password.properties",
        &[("sasl.password", "not-the-password")],
    )
}

/// The stack's settings trusting a CA of their own instead of the stack's: the broker's
/// certificate fails verification.
pub fn other_ca(dir: &Path) -> PathBuf {
    let ca = Ca::new(dir, "other-ca");
    option_file_with(
        dir,
        "other-ca.properties",
        &[("ssl.ca.location", ca.pem.to_str().expect("a UTF-8 path"))],
    )
}

/// A CA of a test's own and where its PEM file is, to issue certificates for mutual TLS.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub pem: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, issuer.pem()).unwrap();
        Ca { issuer, pem }
    }

    /// A certificate for `name` signed by this CA: (certificate file, key file).
    pub fn issue(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        let (cert_file, key_file) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

/// Every secret value the stack made: the Connect token, the SCRAM password, the keystore
/// password. None may show in any output.
pub fn secrets() -> Vec<(String, String)> {
    ["connect.token", "kafka.password", "keystore.password"]
        .iter()
        .map(|name| {
            let file = crate::secrets_dir().join(name);
            let value = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            (name.to_string(), value.trim().to_string())
        })
        .inspect(|(name, value)| assert!(value.len() >= 16, "{name} is too short to grep for"))
        .collect()
}

/// Panics naming every secret of the stack that `text` shows (`where_` names the output).
pub fn assert_no_secret(where_: &str, text: &str) {
    let found: Vec<String> = secrets()
        .into_iter()
        .filter(|(_, value)| text.contains(value.as_str()))
        .map(|(name, _)| name)
        .collect();
    assert!(found.is_empty(), "{where_} shows the stack's {found:?}");
}

/// A fresh temporary folder for a test's files.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tradesignal-secure-{test}-{:016x}",
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Runs `command` for at most `timeout`: its exit code (`None`: still running, then killed)
/// and its stdout and stderr together (through files, so a chatty process never blocks).
pub fn run_for(command: &mut Command, timeout: std::time::Duration) -> (Option<i32>, String) {
    let dir = temp_dir("output");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start the binary");
    let deadline = std::time::Instant::now() + timeout;
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for the binary") {
            break Some(status.code().unwrap_or(-1));
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let text = [out, err]
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("");
    let _ = std::fs::remove_dir_all(&dir);
    (code, text)
}
