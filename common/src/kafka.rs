//! Kafka client settings shared by every producer and consumer of the pipeline.
//!
//! Typed settings cover what the services rely on (brokers, client id); anything else goes
//! through `--kafka-option key=value`, passed to librdkafka as is, except keys the service sets
//! itself for its delivery guarantees, which are refused rather than silently overridden.

use rdkafka::ClientConfig;

/// Broker connection flags, flattened into each binary's CLI.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,

    /// Extra librdkafka setting as KEY=VALUE (repeatable), e.g. `security.protocol=ssl`.
    /// Settings that the service controls itself (see its --help) are refused.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
}

/// A raw option tried to override a setting the service owns.
#[derive(Debug, thiserror::Error)]
#[error("--kafka-option {key} is set by the service itself ({why}); remove it")]
pub struct ConflictingOption {
    pub key: String,
    pub why: &'static str,
}

impl KafkaArgs {
    /// Settings for a client, with the raw options applied on top. `owned` lists the keys the
    /// caller sets itself and why; a raw option naming one of them is an error.
    pub fn client_config(
        &self,
        client_id: &str,
        owned: &[(&str, &'static str)],
    ) -> Result<ClientConfig, ConflictingOption> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id);
        for (key, value) in &self.options {
            if let Some((_, why)) = owned.iter().find(|(k, _)| k == key) {
                return Err(ConflictingOption {
                    key: key.clone(),
                    why,
                });
            }
            config.set(key, value);
        }
        Ok(config)
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_options_apply_unless_owned() {
        let args = KafkaArgs {
            brokers: "b:9092".into(),
            options: vec![("linger.ms".into(), "5".into())],
        };
        let cfg = args.client_config("t", &[]).unwrap();
        assert_eq!(cfg.get("linger.ms"), Some("5"));
        assert_eq!(cfg.get("bootstrap.servers"), Some("b:9092"));
        let err = args
            .client_config("t", &[("linger.ms", "tuned for throughput")])
            .unwrap_err();
        assert!(err.to_string().contains("linger.ms"));
        assert!(parse_key_value("nokey").is_err());
    }
}
