//! Exit codes, the same for every binary, and how an error reaches the user.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (or stopped cleanly by Ctrl-C / SIGTERM) |
//! | 1 | a runtime failure: the error chain is printed to stderr |
//! | 2 | invalid flags, settings or strategy file: every problem is listed, nothing started |
//! | 3 to 6 | specific to one binary, listed in its `--help` (e.g. `analytics`: 3 server unreachable) |
//! | 7 | `ingest`, `sink forward`: Kafka refused the login or TLS failed verification ([`KAFKA_AUTH`]) |
//!
//! clap's own usage errors also exit with 2.

use std::process::ExitCode;

/// Exit code of a runtime failure.
pub const FAILURE: u8 = 1;
/// Exit code of invalid flags or settings (clap uses 2 for usage errors too).
pub const INVALID: u8 = 2;

/// Exit code of a Kafka client whose login or TLS handshake the brokers refused: a retry
/// cannot fix it, so `ingest` and `sink forward` stop rather than retry forever.
pub const KAFKA_AUTH: u8 = 7;

/// Every problem found in the flags or settings, each naming its flag or field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid settings:\n  {}", .0.join("\n  "))]
pub struct InvalidSettings(pub Vec<String>);

impl InvalidSettings {
    /// `Ok(value)` when no problem was found, so validation reads as one expression.
    pub fn check<T>(problems: Vec<String>, value: T) -> Result<T, InvalidSettings> {
        if problems.is_empty() {
            Ok(value)
        } else {
            Err(InvalidSettings(problems))
        }
    }
}

/// Prints `error: <the whole chain>` to stderr (plus where to look for `bin`'s flags when the
/// settings were invalid) and returns the exit code: [`INVALID`] when the chain holds an
/// [`InvalidSettings`], else `specific(error)` or [`FAILURE`].
pub fn report(
    bin: &str,
    error: &(dyn std::error::Error + 'static),
    specific: impl Fn(&(dyn std::error::Error + 'static)) -> Option<u8>,
) -> ExitCode {
    let mut chain = String::new();
    let mut invalid = false;
    let mut source = Some(error);
    while let Some(e) = source {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&e.to_string());
        invalid |= e.is::<InvalidSettings>();
        source = e.source();
    }
    eprintln!("error: {chain}");
    if invalid {
        eprintln!("(see `{bin} --help` and `{bin} <command> --help`)");
        return ExitCode::from(INVALID);
    }
    ExitCode::from(specific(error).unwrap_or(FAILURE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_problem() {
        let e =
            InvalidSettings::check(vec!["--a is bad".into(), "--b too".into()], ()).unwrap_err();
        assert_eq!(e.to_string(), "invalid settings:\n  --a is bad\n  --b too");
        assert_eq!(InvalidSettings::check(vec![], 7), Ok(7));
    }
}
