//! Kafka client settings shared by every producer and consumer of the pipeline.
//!
//! Typed settings cover what the services rely on (brokers, client id); anything else goes
//! through raw librdkafka options (`--kafka-option key=value`), passed on as they are, except
//! keys the service sets itself for its delivery guarantees, which are refused rather than
//! silently overridden.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;

/// The broker every binary and test uses unless told otherwise (the local stack's).
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// How to reach the brokers. Its `Debug` hides the values of secret options ([`is_secret`]).
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Extra librdkafka settings, applied after the typed ones.
    pub options: Vec<(String, String)>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: DEFAULT_BROKERS.to_string(),
            options: Vec::new(),
        }
    }
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options: Vec<(&str, &str)> = self
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret(k) { "*****" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("options", &options)
            .finish()
    }
}

/// Whether a librdkafka option holds a secret (a password, a private key, a login config), so
/// that its value is never shown.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "token",
        "key.pem",
        "oauthbearer.config",
    ]
    .iter()
    .any(|s| key.contains(s))
}

/// A raw option tried to override a setting the service owns.
#[derive(Debug, thiserror::Error)]
#[error("--kafka-option {key} is set by the service itself ({why}); remove it")]
pub struct ConflictingOption {
    pub key: String,
    pub why: &'static str,
}

/// The brokers refused this client's login (SASL), or TLS could not verify them (or they it):
/// unlike a broker that is down, no retry fixes this, so the services stop with
/// [`crate::exit::KAFKA_AUTH`] and this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Kafka at {brokers} refused this client ({detail}); retrying cannot fix this: check \
     security.protocol, sasl.username, sasl.password and ssl.ca.location in the Kafka options \
     (--kafka-option-file)"
)]
pub struct AuthFailed {
    pub brokers: String,
    /// librdkafka's description, which names no secret.
    pub detail: String,
}

impl AuthFailed {
    /// `Some` when `error` is an authentication or TLS failure. librdkafka reports a broker
    /// that hangs up during the TLS handshake as a transport error, so a broker going down is
    /// never taken for one.
    pub fn from_error(brokers: &str, error: &KafkaError, reason: &str) -> Option<AuthFailed> {
        let code = error.rdkafka_error_code()?;
        matches!(
            code,
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SSL
                | RDKafkaErrorCode::SaslAuthenticationFailed
        )
        .then(|| AuthFailed {
            brokers: brokers.to_string(),
            detail: if reason.is_empty() {
                error.to_string()
            } else {
                reason.to_string()
            },
        })
    }

    /// [`crate::exit::KAFKA_AUTH`] when `error`'s chain holds an [`AuthFailed`]; for
    /// [`crate::exit::report`].
    pub fn exit_code(error: &(dyn std::error::Error + 'static)) -> Option<u8> {
        std::iter::successors(Some(error), |e| e.source())
            .any(|e| e.is::<AuthFailed>())
            .then_some(crate::exit::KAFKA_AUTH)
    }
}

impl KafkaSettings {
    /// Settings for a client, with the raw options applied on top. `owned` lists the keys the
    /// caller sets itself and why; a raw option naming one of them is an error.
    pub fn client_config(
        &self,
        client_id: &str,
        owned: &[(&str, &'static str)],
    ) -> Result<ClientConfig, ConflictingOption> {
        self.check_owned(owned)?;
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id);
        for (key, value) in &self.options {
            config.set(key, value);
        }
        Ok(config)
    }

    /// The first raw option that names a key in `owned`, as an error.
    pub fn check_owned(&self, owned: &[(&str, &'static str)]) -> Result<(), ConflictingOption> {
        for (key, _) in &self.options {
            if let Some((_, why)) = owned.iter().find(|(k, _)| k == key) {
                return Err(ConflictingOption {
                    key: key.clone(),
                    why,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_options_apply_unless_owned() {
        let settings = KafkaSettings {
            brokers: "b:9092".into(),
            options: vec![("linger.ms".into(), "5".into())],
        };
        let cfg = settings.client_config("t", &[]).unwrap();
        assert_eq!(cfg.get("linger.ms"), Some("5"));
        assert_eq!(cfg.get("bootstrap.servers"), Some("b:9092"));
        let err = settings
            .client_config("t", &[("linger.ms", "tuned for throughput")])
            .unwrap_err();
        assert!(err.to_string().contains("linger.ms"));
    }

    #[test]
    fn only_login_and_tls_failures_are_auth_failures() {
        let auth = KafkaError::Global(RDKafkaErrorCode::Authentication);
        let failed = AuthFailed::from_error("b:9094", &auth, "SASL authentication error").unwrap();
        assert!(failed
            .to_string()
            .contains("b:9094 refused this client (SASL authentication error)"));
        assert!(
            AuthFailed::from_error("b", &KafkaError::Global(RDKafkaErrorCode::SSL), "").is_some()
        );
        for down in [
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert_eq!(
                AuthFailed::from_error("b", &KafkaError::Global(down), "x"),
                None
            );
        }
    }

    #[test]
    fn exit_code_found_anywhere_in_the_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("forwarder stopped")]
        struct Outer(#[source] AuthFailed);
        let inner = AuthFailed {
            brokers: "b".into(),
            detail: "d".into(),
        };
        assert_eq!(
            AuthFailed::exit_code(&Outer(inner)),
            Some(crate::exit::KAFKA_AUTH)
        );
        let other = std::io::Error::other("down");
        assert_eq!(AuthFailed::exit_code(&other), None);
    }

    #[test]
    fn debug_hides_secret_values() {
        let settings = KafkaSettings {
            options: vec![
                ("sasl.password".into(), "hunter2".into()),
                ("ssl.key.pem".into(), "-----BEGIN".into()),
                ("security.protocol".into(), "SASL_SSL".into()),
            ],
            ..KafkaSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("BEGIN"),
            "{shown}"
        );
        assert!(shown.contains("SASL_SSL"), "{shown}");
    }
}
