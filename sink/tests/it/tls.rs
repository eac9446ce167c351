//! TLS: the forwarder trusts a CA file and verifies the receiver's certificate name.

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use sink::forward::ForwardSettings;
use sink::receive::ReceiveSettings;
use testkit::{create_topic, produce, rand_topic};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_over_tls_with_a_ca_file() {
    let dir = std::env::temp_dir().join(format!("sink-it-tls-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["receiver.test".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let topic = rand_topic("sink-tls");
    create_topic(&topic, 2).await;
    produce(&topic, &records(0, 100)).await;
    let receiver = RunningReceiver::start(ReceiveSettings {
        ack: true,
        tls_cert: Some(cert_file),
        tls_key: Some(key_file),
        ..quiet_receiver()
    })
    .await;

    // A wrong name is refused: nothing arrives, the forwarder keeps retrying.
    let wrong = RunningForwarder::start(ForwardSettings {
        tls_ca: Some(ca_file.clone()),
        ..forward_settings(&topic, &rand_group("tls-wrong"), receiver.addr)
    });
    let _ = testkit::wait_for(Duration::from_secs(10), || {
        wrong.metrics.value("connect_failures_total") >= 2.0
    })
    .await;
    assert!(wrong.metrics.value("connect_failures_total") >= 2.0);
    assert_eq!(wrong.stop().await.forwarded, 0);
    assert_eq!(receiver.received.signals(), 0);

    let group = rand_group("tls");
    let forwarder = RunningForwarder::start(ForwardSettings {
        tls_ca: Some(ca_file),
        tls_server_name: Some("receiver.test".into()),
        ack: true,
        ..forward_settings(&topic, &group, receiver.addr)
    });
    receiver
        .wait_for_signals(300, Duration::from_secs(30))
        .await;
    let offsets = wait_committed(&topic, &group, 2, 300).await;
    assert_eq!(offsets.iter().sum::<i64>(), 300);
    let summary = forwarder.stop().await;
    assert_eq!(summary.acknowledged, 300, "{summary}");
    receiver.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
