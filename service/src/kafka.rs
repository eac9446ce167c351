//! Kafka client settings shared by every producer and consumer of the pipeline.
//!
//! Typed settings cover what the services rely on (brokers, client id); anything else goes
//! through raw librdkafka options (`--kafka-option key=value`), passed on as they are, except
//! keys the service sets itself for its delivery guarantees, which are refused rather than
//! silently overridden.

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
