//! Who may talk to the receiver, and how much they can hold: mutual TLS through real
//! handshakes (a client without a certificate, or with one from another CA, is refused), the
//! connection cap and the idle timeout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sink::receive::ReceiveSettings;
use testkit::secure::Ca;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::support::*;

/// A TLS client trusting `ca`, presenting `identity` if given.
fn connector(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Sends one signal and waits for its acknowledgement: `Ok(ack)`, or the error that ended the
/// connection (a refused handshake shows on the first read in TLS 1.3).
async fn send_one<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    i: usize,
) -> Result<String, String> {
    let mut stream = BufReader::new(stream);
    let line = format!(
        "{}\n",
        serde_json::to_string(&signal("BTC/USD", i)).unwrap()
    );
    stream
        .write_all(line.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let mut ack = String::new();
    match tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut ack)).await {
        Err(_) => Err("no answer".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(0)) => Err("closed".into()),
        Ok(Ok(_)) => Ok(ack.trim().to_string()),
    }
}

async fn tls_send(addr: SocketAddr, connector: &TlsConnector, i: usize) -> Result<String, String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("receiver.test").unwrap();
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    send_one(stream, i).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_clients_without_or_with_a_foreign_certificate() {
    let dir = std::env::temp_dir().join(format!("sink-it-mtls-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = Ca::new(&dir, "ca");
    let other = Ca::new(&dir, "other-ca");
    let (cert, key) = ca.issue(&dir, "receiver.test");
    let good = ca.issue(&dir, "forwarder.test");
    let foreign = other.issue(&dir, "intruder.test");
    let receiver = RunningReceiver::start(ReceiveSettings {
        ack: true,
        tls_cert: Some(cert),
        tls_key: Some(key),
        tls_client_ca: Some(ca.pem.clone()),
        ..quiet_receiver()
    })
    .await;

    let without = tls_send(receiver.addr, &connector(&ca.pem, None), 1).await;
    assert!(without.is_err(), "no client certificate: {without:?}");
    let with_foreign = tls_send(receiver.addr, &connector(&ca.pem, Some(&foreign)), 2).await;
    assert!(
        with_foreign.is_err(),
        "another CA's certificate: {with_foreign:?}"
    );
    // Plaintext gets a TLS alert back, never an acknowledgement.
    let plain = send_one(TcpStream::connect(receiver.addr).await.unwrap(), 3).await;
    assert_ne!(
        plain,
        Ok(signal("BTC/USD", 3).id),
        "plaintext to a TLS receiver"
    );
    assert_eq!(receiver.received.signals(), 0);

    let ok = tls_send(receiver.addr, &connector(&ca.pem, Some(&good)), 4).await;
    assert_eq!(ok, Ok(signal("BTC/USD", 4).id));
    assert_eq!(receiver.received.signals(), 1);
    receiver.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_idle_ones_closed() {
    let receiver = RunningReceiver::start(ReceiveSettings {
        ack: true,
        max_connections: 2,
        idle_timeout: Some(Duration::from_secs(3)),
        ..quiet_receiver()
    })
    .await;
    let first = TcpStream::connect(receiver.addr).await.unwrap();
    let second = TcpStream::connect(receiver.addr).await.unwrap();
    testkit::wait_for(Duration::from_secs(5), || {
        receiver.metrics.value("connections_open") >= 2.0
    })
    .await
    .expect("both admitted");
    let third = send_one(TcpStream::connect(receiver.addr).await.unwrap(), 1).await;
    assert!(third.is_err(), "over the cap: {third:?}");
    assert_eq!(receiver.metrics.value("connections_refused_total"), 1.0);

    // Silent for longer than the idle timeout: both closed, and a new client is served.
    testkit::wait_for(Duration::from_secs(10), || {
        receiver.metrics.value("connections_open") == 0.0
    })
    .await
    .expect("idle connections closed");
    for mut idle in [first, second] {
        let mut buf = [0u8; 1];
        assert_eq!(
            idle.read(&mut buf).await.unwrap_or(0),
            0,
            "closed by the receiver"
        );
    }
    let fresh = send_one(TcpStream::connect(receiver.addr).await.unwrap(), 3).await;
    assert_eq!(fresh, Ok(signal("BTC/USD", 3).id));
    receiver.stop().await;
}
