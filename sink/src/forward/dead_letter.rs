//! Optional dead-letter topic: records that are not signals, and signals whose line the
//! receiver never acknowledged (after `ack_tries`), are copied there before being skipped, with
//! where they came from and why in headers, so nobody has to dig them out of the source topic's
//! retention later.
//!
//! The copy is asynchronous; the record's offset is committed only once the copy is stored (or
//! definitively failed, which is counted and logged), through the window's `finish`.

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use service::kafka::KafkaSettings;
use service::metrics::Counter;
use tokio::sync::mpsc;

use super::consumer::ConsumerError;
use super::window::Seq;

/// Producer to the dead-letter topic.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    stored: Counter,
    failed: Counter,
    /// Seqs whose copy finished (stored or failed), for the forwarder to finish them.
    done: mpsc::UnboundedSender<Seq>,
}

/// Where a bad record came from.
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

impl DeadLetters {
    pub fn new(
        kafka: &KafkaSettings,
        topic: &str,
        stored: Counter,
        failed: Counter,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Seq>), ConsumerError> {
        let mut config = kafka.client_config("sink-dead-letters", &[])?;
        config.set("linger.ms", "5");
        let (done, rx) = mpsc::unbounded_channel();
        Ok((
            Self {
                producer: config.create()?,
                topic: topic.to_string(),
                stored,
                failed,
                done,
            },
            rx,
        ))
    }

    /// Starts copying one record; `seq` comes back on the channel when it is settled. `kind`
    /// and `detail` say why (headers `error.kind`, `error.detail`).
    pub fn send(&self, seq: Seq, origin: &Origin<'_>, kind: &str, detail: &str) {
        let partition = origin.partition.to_string();
        let offset = origin.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(header("source.topic", origin.topic))
            .insert(header("source.partition", &partition))
            .insert(header("source.offset", &offset))
            .insert(header("error.kind", kind))
            .insert(header("error.detail", detail));
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
        if let Some(k) = origin.key {
            record = record.key(k);
        }
        if let Some(v) = origin.value {
            record = record.payload(v);
        }
        let (stored, failed, done) = (self.stored.clone(), self.failed.clone(), self.done.clone());
        match self.producer.send_result(record) {
            Ok(delivery) => {
                tokio::spawn(async move {
                    match delivery.await {
                        Ok(Ok(_)) => stored.inc(),
                        Ok(Err((e, _))) => {
                            failed.inc();
                            tracing::error!(error = %e, "dead-letter copy failed, skipping the record");
                        }
                        Err(_) => failed.inc(),
                    }
                    let _ = done.send(seq);
                });
            }
            Err((e, _)) => {
                failed.inc();
                tracing::error!(error = %e, "dead-letter copy not queued, skipping the record");
                let _ = done.send(seq);
            }
        }
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
