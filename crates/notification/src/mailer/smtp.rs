//! Delivery over SMTP with lettre's async connections, held open between messages.
//!
//! lettre's pooled transport asks the server `NOOP` before every message it sends on a reused
//! connection: a round trip per mail, a fifth of a mail's exchange (`MAIL`, `RCPT`, `DATA`, the
//! message). Here a connection that was used moments ago is trusted as it is: only one idle for
//! longer than [`VERIFY_AFTER`] is checked first (servers close idle connections after minutes,
//! RFC 5321 §4.5.3.2 asks them to wait at least five). A connection that fails is dropped, and the
//! failure is an ordinary transient one that the dispatcher retries later, with the same
//! `Message-ID`.
//!
//! TLS is rustls. lettre builds its TLS configuration with an explicit crypto provider: the
//! process-wide default when the server installed one, otherwise ring (from lettre's
//! `tokio1-rustls-tls` feature; ring is already in the build through sqlx). So nothing needs
//! installing for mail, and the two providers that end up in the tree never make it panic.

use crate::email::{OutgoingEmail, Sender, build_message};
use crate::error::{MailConfigError, MailError};
use crate::mailer::Mailer;
use async_trait::async_trait;
use chrono::Utc;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use percent_encoding::percent_decode_str;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use url::Url;

/// A connection idle for longer than this is asked `NOOP` before it carries a message.
pub const VERIFY_AFTER: Duration = Duration::from_secs(5);
/// A connection idle for longer than this is closed instead of reused (lettre's default too).
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Idle connections kept for reuse; more than this many senders at once open extra ones that are
/// closed after their message.
const MAX_IDLE: usize = 10;
/// Connecting, and each command's reply (lettre's default).
const TIMEOUT: Duration = Duration::from_secs(60);

/// How the connection is secured, from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtp://`: plain text. For a relay on the same host or a test sink.
    None,
    /// `smtp://…?tls=starttls`: STARTTLS, required; the mail is never sent in clear if the
    /// server doesn't offer it.
    StartTls,
    /// `smtps://`: TLS from the first byte (RFC 8314).
    Implicit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, String)>,
}

fn parse_url(text: &str) -> Result<Endpoint, MailConfigError> {
    let invalid = |why: String| MailConfigError::InvalidUrl(format!("{}: {why}", redact(text)));
    let url = Url::parse(text.trim()).map_err(|e| invalid(e.to_string()))?;
    let mut security = match url.scheme() {
        "smtp" => Security::None,
        "smtps" => Security::Implicit,
        other => return Err(invalid(format!("the scheme must be smtp or smtps, not {other:?}"))),
    };
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.to_ascii_lowercase().as_str(), security) {
            ("tls", "starttls", Security::None | Security::StartTls) => security = Security::StartTls,
            ("tls", "none", Security::None) => {}
            ("tls", _, Security::Implicit) => {
                return Err(invalid("smtps:// is always TLS; drop the tls parameter".into()));
            }
            ("tls", other, _) => return Err(invalid(format!("tls must be starttls or none, not {other:?}"))),
            (other, _, _) => return Err(invalid(format!("unknown parameter {other:?} (only tls is understood)"))),
        }
    }
    if !matches!(url.path(), "" | "/") {
        return Err(invalid("an SMTP URL has no path".into()));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| invalid("no host".into()))?;
    // IPv6 literals come back bracketed; the socket address wants them bare.
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port().unwrap_or(match security {
        Security::None => 25,
        Security::StartTls => 587,
        Security::Implicit => 465,
    });
    let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
    let credentials = if url.username().is_empty() {
        None
    } else {
        let user = decode(url.username()).map_err(|_| invalid("the user name is not UTF-8".into()))?;
        let password = decode(url.password().unwrap_or("")).map_err(|_| invalid("the password is not UTF-8".into()))?;
        Some((user, password))
    };
    Ok(Endpoint { host, port, security, credentials })
}

/// The URL with any password replaced by `***`, for logs and error messages.
pub(crate) fn redact(text: &str) -> String {
    match Url::parse(text.trim()) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

/// Sends through an SMTP server, reusing its connections.
pub struct SmtpMailer {
    endpoint: Endpoint,
    /// The TLS setup for `smtps://` and STARTTLS; `None` for plain `smtp://`.
    tls: Option<TlsParameters>,
    hello: ClientId,
    idle: Mutex<Vec<Idle>>,
    /// [`VERIFY_AFTER`], or less in tests.
    verify_after: Duration,
    from: Sender,
    /// host:port and security, for logs; never the credentials.
    describe: String,
}

/// A connection waiting for the next message.
struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

impl SmtpMailer {
    /// `smtp://host:port`, `smtp://host:port?tls=starttls` or `smtps://host:port`, with optional
    /// `user:password@` (percent-encoded). Default ports: 25 for smtp, 587 with STARTTLS,
    /// 465 for smtps.
    pub fn from_url(url: &str, from: Sender) -> Result<Self, MailConfigError> {
        let endpoint = parse_url(url)?;
        let tls = match endpoint.security {
            Security::None => None,
            Security::StartTls | Security::Implicit => Some(
                TlsParameters::new(endpoint.host.clone())
                    .map_err(|e| MailConfigError::InvalidUrl(format!("TLS setup for {}: {e}", endpoint.host)))?,
            ),
        };
        let describe = format!("{}:{} ({:?})", endpoint.host, endpoint.port, endpoint.security);
        Ok(Self {
            endpoint,
            tls,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            verify_after: VERIFY_AFTER,
            from,
            describe,
        })
    }

    /// Checks every idle connection before reuse when it has been idle longer than `after`.
    pub fn verify_after(mut self, after: Duration) -> Self {
        self.verify_after = after;
        self
    }

    /// A connection ready for a message: the most recently used idle one, or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, lettre::transport::smtp::Error> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some(Idle { mut connection, since }) = idle else { break };
            let idle_for = since.elapsed();
            if idle_for > IDLE_LIMIT {
                connection.abort().await;
                continue;
            }
            if idle_for <= self.verify_after || connection.test_connected().await {
                return Ok(connection);
            }
            tracing::debug!(server = %self.describe, "dropping an idle SMTP connection the server closed");
            connection.abort().await;
        }
        self.connect().await
    }

    /// Opens a connection: TLS from the first byte for `smtps://`, STARTTLS when required, then
    /// the login when the URL has credentials.
    async fn connect(&self) -> Result<AsyncSmtpConnection, lettre::transport::smtp::Error> {
        let Endpoint { host, port, security, credentials } = &self.endpoint;
        let wrapper = self.tls.clone().filter(|_| *security == Security::Implicit);
        let mut connection =
            AsyncSmtpConnection::connect_tokio1((host.as_str(), *port), Some(TIMEOUT), &self.hello, wrapper, None)
                .await?;
        if let (Security::StartTls, Some(tls)) = (security, &self.tls) {
            // Required: lettre refuses to go on in clear when the server does not offer it.
            connection.starttls(tls.clone(), &self.hello).await?;
        }
        if let Some((user, password)) = credentials {
            connection.auth(DEFAULT_MECHANISMS, &Credentials::new(user.clone(), password.clone())).await?;
        }
        Ok(connection)
    }

    /// Keeps a connection that just carried a message for the next one.
    fn recycle(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE && !connection.has_broken() {
            idle.push(Idle { connection, since: Instant::now() });
        }
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").field("server", &self.describe).field("from", &self.from).finish()
    }
}

/// 5xx replies are final; everything else (4xx replies, refused or broken connections,
/// timeouts, TLS trouble) may pass, so it is worth another try later.
fn classify(error: lettre::transport::smtp::Error) -> MailError {
    if error.is_permanent() { MailError::Permanent(error.to_string()) } else { MailError::Transient(error.to_string()) }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = build_message(email, &self.from, Utc::now())?;
        let mut connection = self.connection().await.map_err(classify)?;
        // On an error lettre has already closed the connection; it is dropped here.
        match connection.send(message.envelope(), &message.formatted()).await {
            Ok(_) => {
                self.recycle(connection);
                tracing::debug!(event_id = %email.event_id, user_id = %email.to.user_id, server = %self.describe, "mail sent");
                Ok(())
            }
            Err(error) => Err(classify(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[test]
    fn a_plain_smtp_url_has_port_25_and_no_tls() {
        assert_eq!(
            parse_url("smtp://127.0.0.1").unwrap(),
            Endpoint { host: "127.0.0.1".into(), port: 25, security: Security::None, credentials: None }
        );
    }

    #[test]
    fn starttls_is_asked_for_in_the_query() {
        let endpoint = parse_url("smtp://mail.example.com:587?tls=starttls").unwrap();
        assert_eq!((endpoint.port, endpoint.security), (587, Security::StartTls));
    }

    #[test]
    fn smtps_means_implicit_tls_on_465_with_decoded_credentials() {
        let endpoint = parse_url("smtps://bot%40achex:p%40ss%3Aword@mail.example.com").unwrap();
        assert_eq!(endpoint.port, 465);
        assert_eq!(endpoint.security, Security::Implicit);
        assert_eq!(endpoint.credentials, Some(("bot@achex".into(), "p@ss:word".into())));
    }

    #[test]
    fn mistakes_in_the_url_are_refused_without_showing_the_password() {
        for bad in [
            "http://u:hunter2@mail.example.com",
            "smtp://u:hunter2@mail.example.com?tls=sometimes",
            "smtps://u:hunter2@mail.example.com?tls=starttls",
            "smtp://u:hunter2@mail.example.com?pool=3",
            "smtp://u:hunter2@mail.example.com/relay",
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(matches!(err, MailConfigError::InvalidUrl(_)), "{bad}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    fn email_to(address: &str) -> OutgoingEmail {
        OutgoingEmail {
            event_id: uuid::Uuid::now_v7(),
            to: crate::Recipient { user_id: achex_core::UserId::new(), name: String::new(), address: address.into() },
            lang: achex_core::Lang::En,
            rendered: crate::render(&crate::payload::samples::all()[0], achex_core::Lang::En, "http://localhost"),
        }
    }

    /// A minimal SMTP server: answers every command, counts connections and messages, and with
    /// `hang_up` closes each connection after its first message (as a server does with a
    /// connection left idle too long).
    struct TinyServer {
        url: String,
        connections: Arc<AtomicUsize>,
        messages: Arc<AtomicUsize>,
    }

    impl TinyServer {
        async fn start(hang_up: bool) -> TinyServer {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
            let (connections, messages) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let counts = (connections.clone(), messages.clone());
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    counts.0.fetch_add(1, Ordering::SeqCst);
                    let messages = counts.1.clone();
                    tokio::spawn(async move {
                        let (read, mut write) = socket.into_split();
                        let mut lines = BufReader::new(read).lines();
                        write.write_all(b"220 tiny ESMTP\r\n").await?;
                        let mut in_data = false;
                        while let Some(line) = lines.next_line().await? {
                            let reply: &[u8] = if in_data {
                                if line != "." {
                                    continue;
                                }
                                in_data = false;
                                messages.fetch_add(1, Ordering::SeqCst);
                                b"250 queued\r\n"
                            } else if line.starts_with("EHLO") {
                                b"250-tiny\r\n250 8BITMIME\r\n"
                            } else if line == "DATA" {
                                in_data = true;
                                b"354 go on\r\n"
                            } else if line == "QUIT" {
                                b"221 bye\r\n"
                            } else {
                                b"250 ok\r\n"
                            };
                            write.write_all(reply).await?;
                            if (hang_up && reply.starts_with(b"250 queued")) || line == "QUIT" {
                                break;
                            }
                        }
                        Ok::<_, std::io::Error>(())
                    });
                }
            });
            TinyServer { url, connections, messages }
        }

        /// Sends three mails one after the other; returns the messages and connections seen.
        async fn send_three(&self, mailer: &SmtpMailer) -> (usize, usize) {
            for i in 0..3 {
                mailer.send(&email_to(&format!("u{i}@b.example"))).await.unwrap();
            }
            (self.messages.load(Ordering::SeqCst), self.connections.load(Ordering::SeqCst))
        }
    }

    #[tokio::test]
    async fn consecutive_mails_share_one_connection() {
        let server = TinyServer::start(false).await;
        let mailer = SmtpMailer::from_url(&server.url, "n@achex.example".parse().unwrap()).unwrap();
        assert_eq!(server.send_three(&mailer).await, (3, 1), "(messages, connections)");
    }

    #[tokio::test]
    async fn an_idle_connection_the_server_closed_is_replaced_before_the_next_mail() {
        let server = TinyServer::start(true).await;
        // Every idle connection counts as idle too long, so each is checked before reuse.
        let mailer =
            SmtpMailer::from_url(&server.url, "n@achex.example".parse().unwrap()).unwrap().verify_after(Duration::ZERO);
        assert_eq!(server.send_three(&mailer).await, (3, 3), "(messages, connections)");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transient_failure() {
        // Bind then drop a listener: nothing listens on that port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mailer =
            SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), "n@achex.example".parse().unwrap()).unwrap();
        let result = mailer.send(&email_to("a@b.example")).await;
        assert!(matches!(result, Err(MailError::Transient(_))), "{result:?}");
    }
}
