//! Connecting to Spark Connect with a stable session identity.
//!
//! Spark Connect queries belong to the client session that started them. The CLI is a
//! short-lived process, so every invocation joins the same server-side session (a fixed
//! `session_id` in the connection string): that is how `stop` in a new process finds a query
//! `submit` started in an earlier one. The connection names no user: the client library
//! (apache-spark-connect 4.2) sends every plan with an empty user id and only its other requests
//! (settings, releasing the session) with the connection string's, and the server keys sessions
//! by both, so with a user id those requests reached a session no plan ran in. Reachability is
//! checked with a plain TCP connect first, because the client's own retry policy would
//! otherwise spend minutes backing off before reporting a server that is simply not there.
//!
//! A server started with `spark.connect.authenticate.token` (the local stack's and Compose's are)
//! refuses every request without `Authorization: Bearer <token>`. The token is given as a
//! [`Token`] (the binary reads it from the environment or a file, never from its command line),
//! or in the connection string (`/;token=...`), or, without either, the client library reads
//! `SPARK_CONNECT_AUTHENTICATE_TOKEN` itself. It is never shown: [`Connection::shown_remote`]
//! is the connection string as it may be printed, and `Token`'s `Debug` hides it. The client
//! sends a token only over TLS (`use_ssl=true`), or to a loopback address.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use spark_connect::SparkSession;

use crate::error::{Error, SparkContext};

/// Default Spark Connect address.
pub const DEFAULT_REMOTE: &str = "sc://127.0.0.1:15002";
/// Default session id (a fixed v4 UUID) shared by every CLI invocation.
pub const DEFAULT_SESSION_ID: &str = "5f1c2a7e-9b4d-4e3a-8c61-2d7f0b9e4a13";

/// The Connect server's authentication token. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(*****)")
    }
}

impl Token {
    /// A token, checked to be one a connection string can carry (no `;`, `=`, `/`, spaces or
    /// control characters). The error never quotes it.
    pub fn new(token: &str) -> Result<Token, Error> {
        let token = token.trim();
        if token.is_empty() {
            return Err(Error::Settings("the Spark Connect token is empty".into()));
        }
        if token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | '=' | '/'))
        {
            return Err(Error::Settings(
                "the Spark Connect token holds a character a connection string cannot carry                  (`;`, `=`, `/`, a space or a control character)"
                    .into(),
            ));
        }
        Ok(Token(token.to_string()))
    }

    /// The token in `path` (surrounding whitespace, such as a final newline, ignored).
    pub fn from_file(path: &Path) -> Result<Token, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Settings(format!(
                "cannot read the Spark Connect token file {}: {e}",
                path.display()
            ))
        })?;
        Token::new(&text)
            .map_err(|e| Error::Settings(format!("token file {}: {e}", path.display())))
    }
}

/// Where to connect, and into which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `sc://host:port`, optionally with `/;key=value` parameters (token, use_ssl, ...).
    pub remote: String,
    /// A v4 UUID; every process using the same one sees the same queries.
    pub session_id: String,
    /// The server's token; `None`: the one in `remote`, if any, else the client library's
    /// `SPARK_CONNECT_AUTHENTICATE_TOKEN`.
    pub token: Option<Token>,
    /// How long the reachability check waits.
    pub connect_timeout: Duration,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            remote: DEFAULT_REMOTE.into(),
            session_id: DEFAULT_SESSION_ID.into(),
            token: None,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// `remote` with the value of any `token` parameter replaced by `*****`: the form to print.
pub fn redact_remote(remote: &str) -> String {
    let Some((base, params)) = remote.split_once(';') else {
        return remote.to_string();
    };
    let params: Vec<String> = params
        .split(';')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.trim().eq_ignore_ascii_case("token") => format!("{k}=*****"),
            _ => p.to_string(),
        })
        .collect();
    format!("{base};{}", params.join(";"))
}

impl Connection {
    /// The connection string as it may be shown (no token).
    pub fn shown_remote(&self) -> String {
        redact_remote(&self.remote)
    }

    /// The connection string with the session identity (and the token) appended: a secret,
    /// never to be shown.
    pub fn url(&self) -> Result<String, Error> {
        let id = uuid::Uuid::parse_str(&self.session_id)
            .map_err(|e| Error::Settings(format!("session id `{}`: {e}", self.session_id)))?;
        if id.get_version_num() != 4 {
            return Err(Error::Settings(format!(
                "session id `{}` must be a version-4 UUID",
                self.session_id
            )));
        }
        let base = self.remote.trim_end_matches('/');
        if base.contains("user_id=") || base.contains("session_id=") {
            return Err(Error::Settings(
                "set the session id with --session-id, and no user id, not in --remote (the \
                 client library sends plans without the user id, so its other requests would \
                 reach another session)"
                    .into(),
            ));
        }
        let sep = if base.contains("/;") { ";" } else { "/;" };
        let mut url = format!("{base}{sep}session_id={}", self.session_id);
        if let Some(Token(token)) = &self.token {
            if base.contains("token=") {
                return Err(Error::Settings(
                    "a token is given both in the connection string and separately; keep one"
                        .into(),
                ));
            }
            url.push_str(";token=");
            url.push_str(token);
        }
        Ok(url)
    }

    /// `host:port` of the server.
    pub fn endpoint(&self) -> Result<String, Error> {
        let rest = self.remote.strip_prefix("sc://").ok_or_else(|| {
            Error::Settings(format!("`{}` must start with sc://", self.shown_remote()))
        })?;
        let authority = rest.split(['/', ';', '?']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(Error::Settings(format!(
                "`{}` names no host",
                self.shown_remote()
            )));
        }
        Ok(
            if authority
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                authority.to_string()
            } else {
                format!("{authority}:15002")
            },
        )
    }

    /// Checks the server accepts TCP connections, then opens the shared session.
    pub fn connect(&self) -> Result<SparkSession, Error> {
        let url = self.url()?;
        let endpoint = self.endpoint()?;
        let unreachable = |reason: String| Error::Unreachable {
            endpoint: endpoint.clone(),
            reason,
        };
        let addrs: Vec<_> = endpoint
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?
            .collect();
        let mut last = String::from("no address");
        if !addrs.iter().any(
            |a| match TcpStream::connect_timeout(a, self.connect_timeout) {
                Ok(_) => true,
                Err(e) => {
                    last = e.to_string();
                    false
                }
            },
        ) {
            return Err(unreachable(last));
        }
        let spark = SparkSession::builder()
            .remote(&url)
            .get_or_create()
            .during(|| format!("connect to {endpoint}"))?;
        // The client dials lazily: one small request now, so that a refused token is reported
        // as such before any real work.
        spark
            .version()
            .during(|| format!("open a session at {endpoint}"))?;
        Ok(spark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_carries_the_shared_identity() {
        let c = Connection::default();
        assert_eq!(
            c.url().unwrap(),
            format!("sc://127.0.0.1:15002/;session_id={DEFAULT_SESSION_ID}")
        );
        let with_params = Connection {
            remote: "sc://h:1/;use_ssl=true".into(),
            ..Connection::default()
        };
        assert!(with_params
            .url()
            .unwrap()
            .starts_with("sc://h:1/;use_ssl=true;session_id="));
        assert_eq!(with_params.endpoint().unwrap(), "h:1");
        let no_port = Connection {
            remote: "sc://spark".into(),
            ..Connection::default()
        };
        assert_eq!(no_port.endpoint().unwrap(), "spark:15002");
    }

    #[test]
    fn the_token_goes_into_the_url_and_nowhere_else() {
        let c = Connection {
            token: Some(Token::new(" abc123\n").unwrap()),
            ..Connection::default()
        };
        assert!(c.url().unwrap().ends_with(";token=abc123"));
        assert!(!format!("{c:?}").contains("abc123"));
        let both = Connection {
            remote: "sc://h:1/;token=abc123".into(),
            ..c.clone()
        };
        let err = both.url().unwrap_err().to_string();
        assert!(!err.contains("abc123"), "{err}");
        assert_eq!(both.shown_remote(), "sc://h:1/;token=*****");
        assert_eq!(
            redact_remote("sc://h:1/;use_ssl=true;TOKEN=x;user_id=u"),
            "sc://h:1/;use_ssl=true;TOKEN=*****;user_id=u"
        );
        let bad_remote = Connection {
            remote: "http://h/;token=abc123".into(),
            ..Connection::default()
        };
        let err = bad_remote.endpoint().unwrap_err().to_string();
        assert!(!err.contains("abc123"), "{err}");
        for bad in ["", "a;b", "a=b", "a b"] {
            let err = Token::new(bad).unwrap_err().to_string();
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad_id = Connection {
            session_id: "not-a-uuid".into(),
            ..Connection::default()
        };
        assert!(matches!(bad_id.url(), Err(Error::Settings(_))));
        let bad_remote = Connection {
            remote: "http://h".into(),
            ..Connection::default()
        };
        assert!(matches!(bad_remote.endpoint(), Err(Error::Settings(_))));
    }

    #[test]
    fn nothing_listening_is_unreachable_quickly() {
        // Bind then drop: the port is very likely closed afterwards.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Connection {
            remote: format!("sc://127.0.0.1:{port}"),
            ..Connection::default()
        };
        let err = c.connect().err().expect("nothing listens there");
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("spark/stack up"));
    }
}
