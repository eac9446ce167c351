//! The library's error type: what can go wrong between a strategy file and a running query.
//!
//! Expected conditions are variants (the server is not there, no such query), so the binary
//! can map them to distinct exit codes and messages without parsing strings.

use spark_connect::SparkError;
use spark_connect_core::SparkErrorKind;

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
    /// The server refused the request: no token, or not its token.
    #[error(
        "the Spark Connect server refused to {during}: UNAUTHENTICATED (no token, or not the \
         server's). Give its token in SPARK_CONNECT_AUTHENTICATE_TOKEN, or in a file named by \
         --token-file / SPARK_CONNECT_TOKEN_FILE (the local stack's: .stack/secrets/connect.token)"
    )]
    Unauthenticated { during: String },
    /// The connection settings themselves are wrong (URL, session id).
    #[error("invalid connection settings: {0}")]
    Settings(String),
    /// The strategy file cannot be used.
    #[error(transparent)]
    Strategy(#[from] StrategyError),
    /// Spark refused or failed an operation.
    #[error("Spark {during}: {}", brief(source))]
    Spark {
        during: String,
        #[source]
        source: Box<SparkError>,
    },
    /// The progress JSON Spark returned is not what this client understands.
    #[error("unexpected progress JSON from Spark: {0}")]
    Progress(#[from] serde_json::Error),
    /// Rows a query returned are not what this client asked for.
    #[error("unexpected rows from Spark: {0}")]
    Rows(String),
    /// A file the command writes (the backtest report) cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether Spark refused the plan itself: an analysis or parse error (unresolved column,
    /// type mismatch, bad SQL) or an illegal argument (an option the Kafka source or sink
    /// refuses). The same plan would be refused again.
    pub fn rejected_plan(&self) -> bool {
        matches!(self, Error::Spark { source, .. } if matches!(
            source.kind,
            SparkErrorKind::Analysis | SparkErrorKind::Parse | SparkErrorKind::IllegalArgument
        ))
    }
}

/// Spark's message, cut before the plan dump an analysis error carries (it can run to
/// hundreds of kilobytes); the Connect server log has the whole of it.
fn brief(e: &SparkError) -> String {
    const LIMIT: usize = 2000;
    let full = e.to_string();
    let text = full.split("\n'").next().unwrap_or_default();
    if text.len() <= LIMIT && text.len() == full.len() {
        return full;
    }
    let mut end = text.len().min(LIMIT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} [...]", &text[..end])
}

/// Attaches what we were doing to a Spark client error.
pub(crate) trait SparkContext<T> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

/// gRPC's status code UNAUTHENTICATED.
const GRPC_UNAUTHENTICATED: i32 = 16;

impl<T> SparkContext<T> for Result<T, SparkError> {
    fn during(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| {
            if e.grpc_code == Some(GRPC_UNAUTHENTICATED) {
                return Error::Unauthenticated { during: what() };
            }
            Error::Spark {
                during: what(),
                source: Box::new(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_messages_drop_the_plan_dump() {
        let e = SparkError::connect_msg(
            "[UNRESOLVED_COLUMN] `x` cannot be resolved;\n'Project [x]\n+- plan",
        );
        let text = brief(&e);
        assert!(text.contains("UNRESOLVED_COLUMN"), "{text}");
        assert!(!text.contains("'Project"), "{text}");
        let long = SparkError::connect_msg("y".repeat(5000));
        assert!(brief(&long).len() < 2100);
        let short = SparkError::connect_msg("short");
        assert_eq!(brief(&short), short.to_string());
    }
}
