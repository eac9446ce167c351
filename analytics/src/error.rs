//! The library's error type: what can go wrong between a strategy file and a running query.
//!
//! Expected conditions are variants (the server is not there, no such query), so the binary
//! can map them to distinct exit codes and messages without parsing strings.

use spark_connect::SparkError;

use crate::strategy::StrategyError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing answers at the Spark Connect address.
    #[error(
        "cannot reach the Spark Connect server at {endpoint} ({reason}); is the stack up \
         (`spark/stack up`)?"
    )]
    Unreachable { endpoint: String, reason: String },
    /// The connection settings themselves are wrong (URL, session id).
    #[error("invalid connection settings: {0}")]
    Settings(String),
    /// The strategy file cannot be used.
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    /// Spark refused or failed an operation.
    #[error("Spark {during}: {source}")]
    Spark {
        during: String,
        #[source]
        source: Box<SparkError>,
    },
    /// The progress JSON Spark returned is not what this client understands.
    #[error("unexpected progress JSON from Spark: {0}")]
    Progress(#[from] serde_json::Error),
}

/// Attaches what we were doing to a Spark client error.
pub(crate) trait SparkContext<T> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> SparkContext<T> for Result<T, SparkError> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error::Spark {
            during: what(),
            source: Box::new(e),
        })
    }
}
