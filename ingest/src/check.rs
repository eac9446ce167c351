//! `ingest <source> --check`: the settings are valid (the binary checked the flags); now
//! reach what a run would reach, say what was found, and stop without producing anything.

use std::path::PathBuf;

use crate::pipeline::OutputError;
use crate::source::kraken::client::probe;
use crate::source::HistoryInput;
use crate::{IngestSettings, Source};

/// What stopped a check.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("checking Kafka")]
    Kafka(#[source] OutputError),
    #[error("{0}")]
    Exchange(String),
    #[error("cannot read {}", file.display())]
    Replay {
        file: PathBuf,
        #[source]
        error: std::io::Error,
    },
}

/// Reaches the brokers (reporting each topic's partitions) and, for `kraken`, the exchange;
/// for `replay`, opens the file. `say` gets one line per finding, the last one
/// `check passed`.
pub async fn check(settings: &IngestSettings, mut say: impl FnMut(&str)) -> Result<(), CheckError> {
    let topics = settings.output.check().await.map_err(CheckError::Kafka)?;
    for (topic, status) in topics {
        say(&match status {
            Ok(n) => format!("kafka: topic {topic}: {n} partitions"),
            Err(e) => format!(
                "kafka: topic {topic}: not available ({e}); it is created on first write if the broker allows"
            ),
        });
    }
    match &settings.source {
        Source::Kraken(k) => {
            probe(&k.url, k.connect_timeout)
                .await
                .map_err(CheckError::Exchange)?;
            say(&format!("exchange: {} reachable", k.url));
        }
        Source::Replay(r) => {
            tokio::fs::File::open(&r.file)
                .await
                .map_err(|error| CheckError::Replay {
                    file: r.file.clone(),
                    error,
                })?;
            say(&format!("replay: {} readable", r.file.display()));
        }
        Source::History(h) => {
            if let HistoryInput::Csv { file, .. } = &h.input {
                tokio::fs::File::open(file)
                    .await
                    .map_err(|error| CheckError::Replay {
                        file: file.clone(),
                        error,
                    })?;
                say(&format!("history: {} readable", file.display()));
            }
        }
        Source::Simulate(_) => {}
    }
    say("check passed");
    Ok(())
}
