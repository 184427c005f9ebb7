//! Delivery over SMTP, on connections held open between messages.
//!
//! The SMTP dialogue is this crate's own ([`session`]): with a server that offers `PIPELINING`,
//! a mail is two round trips (the envelope with `DATA`, then the content) where lettre's
//! connection needs four. lettre still builds the MIME message.
//!
//! A connection that was used moments ago is trusted as it is: only one idle for longer than
//! [`VERIFY_AFTER`] is checked with `NOOP` first (servers close idle connections after minutes;
//! RFC 5321 §4.5.3.2 asks them to wait at least five). When a reused connection turns out to be
//! gone before the mail's content left, the mail goes once more on a new connection. Any other
//! failure is an ordinary one that the dispatcher retries later, with the same `Message-ID`.
//!
//! TLS is rustls, with the Mozilla roots of `webpki-roots` (nothing read from the host) and the
//! process-wide crypto provider when the server installed one, otherwise ring (already in the
//! build through sqlx).

mod session;

use crate::email::{OutgoingEmail, Sender, build_message};
use crate::error::{MailConfigError, MailError};
use crate::mailer::Mailer;
use async_trait::async_trait;
use chrono::Utc;
use lettre::transport::smtp::extension::ClientId;
use percent_encoding::percent_decode_str;
use session::{Dialer, Mail, Outcome, Session};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
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
    /// `?ca=/path`: a certificate authority to trust besides the Mozilla roots (PEM or DER), for
    /// a relay whose certificate a private authority signed.
    ca_file: Option<std::path::PathBuf>,
}

fn parse_url(text: &str) -> Result<Endpoint, MailConfigError> {
    let invalid = |why: String| MailConfigError::InvalidUrl(format!("{}: {why}", redact(text)));
    let url = Url::parse(text.trim()).map_err(|e| invalid(e.to_string()))?;
    let mut security = match url.scheme() {
        "smtp" => Security::None,
        "smtps" => Security::Implicit,
        other => return Err(invalid(format!("the scheme must be smtp or smtps, not {other:?}"))),
    };
    let mut ca_file = None;
    for (key, value) in url.query_pairs() {
        if key == "ca" {
            ca_file = Some(std::path::PathBuf::from(value.as_ref()));
            continue;
        }
        match (key.as_ref(), value.to_ascii_lowercase().as_str(), security) {
            ("tls", "starttls", Security::None | Security::StartTls) => security = Security::StartTls,
            ("tls", "none", Security::None) => {}
            ("tls", _, Security::Implicit) => {
                return Err(invalid("smtps:// is always TLS; drop the tls parameter".into()));
            }
            ("tls", other, _) => return Err(invalid(format!("tls must be starttls or none, not {other:?}"))),
            (other, _, _) => {
                return Err(invalid(format!("unknown parameter {other:?} (only tls and ca are understood)")));
            }
        }
    }
    if ca_file.is_some() && security == Security::None {
        return Err(invalid("ca is for TLS: use smtps:// or ?tls=starttls".into()));
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
    Ok(Endpoint { host, port, security, credentials, ca_file })
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
    /// The TLS setup and the name the certificate must carry, for `smtps://` and STARTTLS;
    /// `None` for plain `smtp://`.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Certificates trusted besides the Mozilla roots (a private relay's own authority).
    extra_roots: Vec<CertificateDer<'static>>,
    /// Our name in `EHLO`: the host name, or `localhost`.
    hello: String,
    idle: Mutex<Vec<Idle>>,
    /// [`VERIFY_AFTER`], or less in tests.
    verify_after: Duration,
    from: Sender,
    /// host:port and security, for logs; never the credentials.
    describe: String,
}

/// A connection waiting for the next message.
struct Idle {
    session: Session,
    since: Instant,
}

impl SmtpMailer {
    /// `smtp://host:port`, `smtp://host:port?tls=starttls` or `smtps://host:port`, with optional
    /// `user:password@` (percent-encoded). Default ports: 25 for smtp, 587 with STARTTLS,
    /// 465 for smtps.
    pub fn from_url(url: &str, from: Sender) -> Result<Self, MailConfigError> {
        let endpoint = parse_url(url)?;
        let describe = format!("{}:{} ({:?})", endpoint.host, endpoint.port, endpoint.security);
        let mut mailer = Self {
            endpoint,
            tls: None,
            extra_roots: Vec::new(),
            hello: ClientId::default().to_string(),
            idle: Mutex::new(Vec::new()),
            verify_after: VERIFY_AFTER,
            from,
            describe,
        };
        if let Some(path) = mailer.endpoint.ca_file.clone() {
            mailer.extra_roots = read_certificates(&path)?;
        }
        mailer.tls = mailer.tls_setup()?;
        Ok(mailer)
    }

    /// Also trusts the certificate authority `der` (DER-encoded), for a relay whose certificate
    /// a private authority signed.
    pub fn trust_root_certificate(mut self, der: &[u8]) -> Result<Self, MailConfigError> {
        self.extra_roots.push(CertificateDer::from(der.to_vec()));
        self.tls = self.tls_setup()?;
        Ok(self)
    }

    /// Checks every idle connection before reuse when it has been idle longer than `after`.
    pub fn verify_after(mut self, after: Duration) -> Self {
        self.verify_after = after;
        self
    }

    fn tls_setup(&self) -> Result<Option<(TlsConnector, ServerName<'static>)>, MailConfigError> {
        if self.endpoint.security == Security::None {
            return Ok(None);
        }
        let invalid = |why: String| MailConfigError::InvalidUrl(format!("TLS for {}: {why}", self.endpoint.host));
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for root in &self.extra_roots {
            roots.add(root.clone()).map_err(|e| invalid(e.to_string()))?;
        }
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()));
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(self.endpoint.host.clone()).map_err(|e| invalid(e.to_string()))?;
        Ok(Some((TlsConnector::from(Arc::new(config)), name)))
    }

    fn dialer(&self) -> Dialer<'_> {
        Dialer { endpoint: &self.endpoint, tls: self.tls.as_ref(), hello: &self.hello, timeout: TIMEOUT }
    }

    /// An idle connection fit for a message, the most recently used first, if there is one.
    async fn idle_session(&self) -> Option<Session> {
        loop {
            let Idle { mut session, since } = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()?;
            let idle_for = since.elapsed();
            if idle_for <= IDLE_LIMIT && (idle_for <= self.verify_after || session.noop().await) {
                return Some(session);
            }
            tracing::debug!(server = %self.describe, "dropping an idle SMTP connection");
        }
    }

    /// Keeps a connection that just carried a message for the next one.
    fn recycle(&self, session: Session) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE && !session.is_broken() {
            idle.push(Idle { session, since: Instant::now() });
        }
    }
}

/// One e-mail of a batch, built: which one it is, its envelope and its bytes.
struct Prepared {
    /// Its place in the batch.
    index: usize,
    from: String,
    to: Vec<String>,
    content: Vec<u8>,
}

impl Prepared {
    fn mail(&self) -> Mail<'_> {
        Mail { from: &self.from, to: &self.to, content: &self.content }
    }
}

/// The certificates in `path`: PEM (`-----BEGIN CERTIFICATE-----` blocks), or one DER.
fn read_certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, MailConfigError> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let invalid = |why: String| MailConfigError::InvalidUrl(format!("ca {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    if !bytes.starts_with(b"-----") && !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Ok(vec![CertificateDer::from(bytes)]);
    }
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(invalid("no certificate in the file".into()));
    }
    Ok(certificates)
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").field("server", &self.describe).field("from", &self.from).finish()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let mut results = self.send_batch(std::slice::from_ref(email)).await;
        results.pop().unwrap_or_else(|| Err(MailError::Transient("the mail was not sent".into())))
    }

    /// The batch goes on one connection, each mail's envelope pipelined behind the previous
    /// mail's content when the server allows: one round trip a mail.
    async fn send_batch(&self, emails: &[OutgoingEmail]) -> Vec<Result<(), MailError>> {
        let now = Utc::now();
        // Each e-mail that could be built, ready for the wire; the others fail here.
        let mut results: Vec<Option<Result<(), MailError>>> = Vec::with_capacity(emails.len());
        let mut prepared = Vec::with_capacity(emails.len());
        for (index, email) in emails.iter().enumerate() {
            match build_message(email, &self.from, now) {
                Ok(message) => {
                    let envelope = message.envelope();
                    prepared.push(Prepared {
                        index,
                        from: envelope.from().map(ToString::to_string).unwrap_or_default(),
                        to: envelope.to().iter().map(ToString::to_string).collect(),
                        content: message.formatted(),
                    });
                    results.push(None);
                }
                Err(error) => results.push(Some(Err(error))),
            }
        }
        // The mails still to send.
        let mut pending: Vec<&Prepared> = prepared.iter().collect();
        let mut session = self.idle_session().await;
        let mut reused = session.is_some();
        while !pending.is_empty() {
            let mut current = match session.take() {
                Some(session) => session,
                None => match Session::open(&self.dialer()).await {
                    Ok(session) => session,
                    Err(error) => {
                        for p in &pending {
                            results[p.index] = Some(Err(error.clone()));
                        }
                        break;
                    }
                },
            };
            let mails: Vec<Mail<'_>> = pending.iter().map(|p| p.mail()).collect();
            let outcomes = current.send_chain(&mails).await;
            self.recycle(current);
            let mut not_sent = Vec::new();
            for (p, outcome) in pending.iter().zip(outcomes) {
                results[p.index] = match outcome {
                    Outcome::Sent => Some(Ok(())),
                    Outcome::Failed(error) => Some(Err(error)),
                    Outcome::NotSent => {
                        not_sent.push(*p);
                        continue;
                    }
                };
            }
            // A connection that broke having carried some of the batch (a server may limit the
            // mails per connection), or a reused one the server had closed since: the rest go
            // at once on a new connection. One that broke carrying nothing ends the batch.
            let progressed = not_sent.len() < pending.len();
            if !not_sent.is_empty() && !progressed && !reused {
                for p in &not_sent {
                    results[p.index] =
                        Some(Err(MailError::Transient("the connection to the mail server was lost".into())));
                }
                break;
            }
            if !not_sent.is_empty() {
                tracing::debug!(server = %self.describe, left = not_sent.len(), "an SMTP connection was lost; going on with a new one");
            }
            pending = not_sent;
            reused = false;
        }
        emails
            .iter()
            .zip(results)
            .map(|(email, result)| {
                // Every mail has its result by now; a gap would be a bug, and must not pass for sent.
                let result = result.unwrap_or_else(|| Err(MailError::Transient("the mail was not sent".into())));
                if result.is_ok() {
                    tracing::debug!(event_id = %email.event_id, user_id = %email.to.user_id, server = %self.describe, "mail sent");
                }
                result
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[test]
    fn a_plain_smtp_url_has_port_25_and_no_tls() {
        assert_eq!(
            parse_url("smtp://127.0.0.1").unwrap(),
            Endpoint { host: "127.0.0.1".into(), port: 25, security: Security::None, credentials: None, ca_file: None }
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
            "smtp://u:hunter2@mail.example.com?ca=/etc/ssl/ca.pem",
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

    /// How the test server behaves.
    #[derive(Debug, Clone, Copy, Default)]
    struct Behaviour {
        /// Closes each connection after its first message, as a server does with a connection
        /// left idle too long.
        hang_up: bool,
        /// Offers PIPELINING, and holds its replies to `MAIL` and `RCPT` until `DATA` has come:
        /// a client that waits for each reply before the next command stalls.
        pipelining: bool,
        tls: ServerTls,
        /// The login it requires before `MAIL`, by `AUTH PLAIN` or `AUTH LOGIN`.
        login: Option<(&'static str, &'static str)>,
        /// Offers only `AUTH LOGIN`.
        login_only: bool,
        /// With `pipelining`: holds its reply to each of the first `chain - 1` messages of a
        /// connection until the next mail's envelope has come, so a client that waits for that
        /// reply before the next envelope stalls.
        chain: usize,
    }

    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    enum ServerTls {
        #[default]
        None,
        /// TLS from the first byte.
        Implicit,
        /// Offers STARTTLS, and refuses `AUTH` and `MAIL` in clear.
        StartTls,
    }

    const CA: &[u8] = include_bytes!("../../testdata/tls/ca.der");
    const SERVER_CERTIFICATE: &[u8] = include_bytes!("../../testdata/tls/localhost.der");
    const SERVER_KEY: &[u8] = include_bytes!("../../testdata/tls/localhost.key.der");

    /// What the server saw.
    #[derive(Debug, Default)]
    struct Seen {
        connections: AtomicUsize,
        /// Each message as the server read it back (dots unstuffed).
        messages: Mutex<Vec<String>>,
        /// The login names accepted.
        logins: Mutex<Vec<String>>,
    }

    /// A small SMTP server on a loopback port (recipients named `nobody…` are refused).
    struct TinyServer {
        port: u16,
        seen: Arc<Seen>,
    }

    impl TinyServer {
        async fn start(behaviour: Behaviour) -> TinyServer {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let seen = Arc::new(Seen::default());
            let shared = seen.clone();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls()));
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    let (seen, acceptor) = (shared.clone(), acceptor.clone());
                    tokio::spawn(async move {
                        if behaviour.tls == ServerTls::Implicit {
                            let secured = acceptor.accept(socket).await?;
                            serve(secured, behaviour, true, &seen).await?;
                        } else if let Some(socket) = serve(socket, behaviour, false, &seen).await? {
                            let secured = acceptor.accept(socket).await?;
                            serve(secured, behaviour, true, &seen).await?;
                        }
                        Ok::<_, std::io::Error>(())
                    });
                }
            });
            TinyServer { port, seen }
        }

        fn url(&self, scheme_and_login: &str, query: &str) -> String {
            format!("{scheme_and_login}127.0.0.1:{}{query}", self.port)
        }

        fn messages(&self) -> usize {
            self.seen.messages.lock().unwrap().len()
        }

        fn connections(&self) -> usize {
            self.seen.connections.load(Ordering::SeqCst)
        }
    }

    fn server_tls() -> tokio_rustls::rustls::ServerConfig {
        use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(SERVER_CERTIFICATE.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(SERVER_KEY.to_vec())),
        )
        .unwrap()
    }

    /// Serves one connection until `QUIT` or its end; returns the socket when the client asked
    /// for STARTTLS and got its 220.
    async fn serve<S>(stream: S, behaviour: Behaviour, secured: bool, seen: &Seen) -> std::io::Result<Option<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut io = BufReader::new(stream);
        if !(secured && behaviour.tls == ServerTls::StartTls) {
            io.get_mut().write_all(b"220 tiny ESMTP\r\n").await?;
        }
        let clear_refused = behaviour.tls == ServerTls::StartTls && !secured;
        let mut logged_in = behaviour.login.is_none();
        let mut recipients = 0;
        let mut messages_here = 0;
        // Replies held back until DATA (pipelining), then written at once.
        let mut held = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            if io.read_line(&mut line).await? == 0 {
                return Ok(None);
            }
            let command = line.trim_end().to_owned();
            let upper = command.to_ascii_uppercase();
            let reply = if upper.starts_with("EHLO") {
                let mut offers = String::from("250-tiny\r\n");
                if behaviour.pipelining {
                    offers.push_str("250-PIPELINING\r\n");
                }
                if clear_refused {
                    offers.push_str("250-STARTTLS\r\n");
                }
                if behaviour.login.is_some() {
                    offers.push_str(if behaviour.login_only {
                        "250-AUTH LOGIN\r\n"
                    } else {
                        "250-AUTH LOGIN PLAIN\r\n"
                    });
                }
                offers + "250 8BITMIME\r\n"
            } else if upper == "STARTTLS" && clear_refused {
                io.get_mut().write_all(b"220 go ahead\r\n").await?;
                return Ok(Some(io.into_inner()));
            } else if upper.starts_with("AUTH") && clear_refused {
                "538 encryption required\r\n".into()
            } else if upper.starts_with("AUTH PLAIN ") || upper == "AUTH LOGIN" {
                let given = if upper == "AUTH LOGIN" {
                    let mut answers = Vec::new();
                    for prompt in ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"] {
                        io.get_mut().write_all(prompt.as_bytes()).await?;
                        line.clear();
                        io.read_line(&mut line).await?;
                        answers.push(String::from_utf8(BASE64.decode(line.trim_end()).unwrap()).unwrap());
                    }
                    (answers[0].clone(), answers[1].clone())
                } else {
                    let token = String::from_utf8(BASE64.decode(&command["AUTH PLAIN ".len()..]).unwrap()).unwrap();
                    let parts: Vec<&str> = token.split('\0').collect();
                    (parts[1].to_owned(), parts[2].to_owned())
                };
                if behaviour.login.is_some_and(|(u, p)| (u, p) == (given.0.as_str(), given.1.as_str())) {
                    logged_in = true;
                    seen.logins.lock().unwrap().push(given.0);
                    "235 welcome\r\n".into()
                } else {
                    "535 bad credentials\r\n".into()
                }
            } else if upper.starts_with("MAIL") {
                recipients = 0;
                if clear_refused {
                    "530 STARTTLS first\r\n".into()
                } else if logged_in {
                    "250 ok\r\n".into()
                } else {
                    "530 log in first\r\n".into()
                }
            } else if upper.starts_with("RCPT") {
                if upper.starts_with("RCPT TO:<NOBODY") {
                    "550 no such user\r\n".into()
                } else {
                    recipients += 1;
                    "250 ok\r\n".into()
                }
            } else if upper == "DATA" {
                if recipients == 0 {
                    "554 no valid recipients\r\n".into()
                } else {
                    io.get_mut().write_all(format!("{held}354 go on\r\n").as_bytes()).await?;
                    held.clear();
                    let mut message = String::new();
                    loop {
                        line.clear();
                        if io.read_line(&mut line).await? == 0 {
                            return Ok(None);
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        message.push_str(line.strip_prefix('.').unwrap_or(&line));
                    }
                    seen.messages.lock().unwrap().push(message);
                    recipients = 0;
                    messages_here += 1;
                    "250 queued\r\n".into()
                }
            } else if upper == "QUIT" {
                io.get_mut().write_all(b"221 bye\r\n").await?;
                return Ok(None);
            } else {
                "250 ok\r\n".into()
            };
            held.push_str(&reply);
            let hold = behaviour.pipelining
                && (upper.starts_with("MAIL")
                    || upper.starts_with("RCPT")
                    || (reply.starts_with("250 queued") && messages_here < behaviour.chain));
            if !hold {
                io.get_mut().write_all(held.as_bytes()).await?;
                held.clear();
            }
            if behaviour.hang_up && reply.starts_with("250 queued") {
                return Ok(None);
            }
        }
    }

    fn sender() -> Sender {
        "n@achex.example".parse().unwrap()
    }

    /// Sends to each address in turn; every send must end within 10 s (a stalled dialogue fails
    /// the test instead of hanging it).
    async fn send_each(mailer: &SmtpMailer, addresses: &[&str]) -> Vec<Result<(), MailError>> {
        let mut results = Vec::new();
        for address in addresses {
            let sent = tokio::time::timeout(Duration::from_secs(10), mailer.send(&email_to(address))).await;
            results.push(sent.expect("the dialogue does not stall"));
        }
        results
    }

    #[tokio::test]
    async fn consecutive_mails_share_one_connection() {
        let server = TinyServer::start(Behaviour::default()).await;
        let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap();
        let results = send_each(&mailer, &["a@b.example", "c@b.example", "d@b.example"]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!((server.messages(), server.connections()), (3, 1), "(messages, connections)");
    }

    #[tokio::test]
    async fn a_pipelining_server_gets_each_envelope_in_one_go_and_each_message_unchanged() {
        let server = TinyServer::start(Behaviour { pipelining: true, ..Behaviour::default() }).await;
        let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap();
        let email = email_to("a@b.example");
        let expected = String::from_utf8(build_message(&email, &sender(), Utc::now()).unwrap().formatted()).unwrap();
        let sent = tokio::time::timeout(Duration::from_secs(10), mailer.send(&email)).await;
        assert_eq!(sent.expect("the dialogue does not stall"), Ok(()));
        let results = send_each(&mailer, &["c@b.example", "d@b.example"]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!((server.messages(), server.connections()), (3, 1), "(messages, connections)");
        // Two builds of one e-mail differ only in their Date and their MIME boundary.
        let received = server.seen.messages.lock().unwrap()[0].clone();
        let comparable = |m: &str| {
            let boundary = m.split("boundary=\"").nth(1).and_then(|b| b.split('"').next()).unwrap().to_owned();
            m.replace(&boundary, "BOUNDARY").lines().filter(|l| !l.starts_with("Date: ")).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(comparable(&received), comparable(&expected));
    }

    fn emails_to(addresses: &[&str]) -> Vec<OutgoingEmail> {
        addresses.iter().map(|a| email_to(a)).collect()
    }

    async fn send_batch(mailer: &SmtpMailer, addresses: &[&str]) -> Vec<Result<(), MailError>> {
        let sent = tokio::time::timeout(Duration::from_secs(10), mailer.send_batch(&emails_to(addresses))).await;
        sent.expect("the dialogue does not stall")
    }

    #[tokio::test]
    async fn a_batch_sends_each_envelope_behind_the_previous_message_on_one_connection() {
        let server = TinyServer::start(Behaviour { pipelining: true, chain: 3, ..Behaviour::default() }).await;
        let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap();
        let results = send_batch(&mailer, &["a@b.example", "c@b.example", "d@b.example"]).await;
        assert_eq!(results, [Ok(()), Ok(()), Ok(())]);
        assert_eq!((server.messages(), server.connections()), (3, 1), "(messages, connections)");
    }

    #[tokio::test]
    async fn a_batch_goes_on_when_the_server_takes_one_mail_per_connection() {
        for pipelining in [false, true] {
            let server = TinyServer::start(Behaviour { hang_up: true, pipelining, ..Behaviour::default() }).await;
            let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap();
            let results = send_batch(&mailer, &["a@b.example", "c@b.example", "d@b.example"]).await;
            assert_eq!(results, [Ok(()), Ok(()), Ok(())], "pipelining {pipelining}");
            assert_eq!((server.messages(), server.connections()), (3, 3), "pipelining {pipelining}");
        }
    }

    #[tokio::test]
    async fn a_refused_recipient_fails_alone_in_its_batch() {
        for pipelining in [false, true] {
            let server = TinyServer::start(Behaviour { pipelining, ..Behaviour::default() }).await;
            let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap();
            let results =
                send_batch(&mailer, &["a@b.example", "nobody@b.example", "not an address", "d@b.example"]).await;
            assert_eq!(results[0], Ok(()), "pipelining {pipelining}");
            assert!(matches!(&results[1], Err(MailError::Permanent(m)) if m.contains("550")), "{results:?}");
            assert!(matches!(&results[2], Err(MailError::Permanent(m)) if m.contains("invalid")), "{results:?}");
            assert_eq!(results[3], Ok(()), "pipelining {pipelining}");
            assert_eq!((server.messages(), server.connections()), (2, 1), "pipelining {pipelining}");
        }
    }

    #[tokio::test]
    async fn a_batch_to_a_server_that_is_not_there_fails_each_mail_transiently() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), sender()).unwrap();
        let results = mailer.send_batch(&emails_to(&["a@b.example", "c@b.example"])).await;
        assert!(results.iter().all(|r| matches!(r, Err(MailError::Transient(_)))), "{results:?}");
        assert_eq!(results.len(), 2);
    }

    #[tokio::test]
    async fn a_refused_recipient_is_a_permanent_failure_and_the_connection_carries_the_next_mail() {
        for pipelining in [false, true] {
            let server = TinyServer::start(Behaviour { pipelining, ..Behaviour::default() }).await;
            let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap();
            let results = send_each(&mailer, &["nobody@b.example", "a@b.example"]).await;
            assert!(matches!(&results[0], Err(MailError::Permanent(m)) if m.contains("550")), "{results:?}");
            assert_eq!(results[1], Ok(()));
            assert_eq!((server.messages(), server.connections()), (1, 1), "pipelining {pipelining}");
        }
    }

    #[tokio::test]
    async fn an_idle_connection_the_server_closed_is_replaced_before_the_next_mail() {
        let server = TinyServer::start(Behaviour { hang_up: true, ..Behaviour::default() }).await;
        // Every idle connection counts as idle too long, so each is checked before reuse.
        let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap().verify_after(Duration::ZERO);
        let results = send_each(&mailer, &["a@b.example", "c@b.example", "d@b.example"]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!((server.messages(), server.connections()), (3, 3), "(messages, connections)");
    }

    #[tokio::test]
    async fn a_connection_closed_since_its_last_mail_is_replaced_without_a_failure() {
        let server = TinyServer::start(Behaviour { hang_up: true, pipelining: true, ..Behaviour::default() }).await;
        // Reused without a NOOP: the mail finds the connection gone and goes on a new one.
        let mailer = SmtpMailer::from_url(&server.url("smtp://", ""), sender()).unwrap();
        let results = send_each(&mailer, &["a@b.example", "c@b.example", "d@b.example"]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!((server.messages(), server.connections()), (3, 3), "(messages, connections)");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transient_failure() {
        // Bind then drop a listener: nothing listens on that port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mailer = SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), sender()).unwrap();
        let result = mailer.send(&email_to("a@b.example")).await;
        assert!(matches!(result, Err(MailError::Transient(_))), "{result:?}");
    }

    #[tokio::test]
    async fn smtps_carries_the_mail_inside_tls_to_a_certificate_the_mailer_trusts() {
        let server =
            TinyServer::start(Behaviour { tls: ServerTls::Implicit, pipelining: true, ..Behaviour::default() }).await;
        let mailer =
            SmtpMailer::from_url(&server.url("smtps://", ""), sender()).unwrap().trust_root_certificate(CA).unwrap();
        let results = send_each(&mailer, &["a@b.example", "c@b.example"]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!((server.messages(), server.connections()), (2, 1), "(messages, connections)");
    }

    #[tokio::test]
    async fn a_private_authority_named_in_the_url_is_trusted_in_pem_or_der() {
        let dir = tempfile::tempdir().unwrap();
        let der = dir.path().join("ca.der");
        std::fs::write(&der, CA).unwrap();
        let pem = dir.path().join("ca.pem");
        let body = BASE64.encode(CA);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        std::fs::write(&pem, format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n")))
            .unwrap();
        let server = TinyServer::start(Behaviour { tls: ServerTls::Implicit, ..Behaviour::default() }).await;
        for file in [&der, &pem] {
            let url = server.url("smtps://", &format!("?ca={}", file.display()));
            let mailer = SmtpMailer::from_url(&url, sender()).unwrap();
            assert_eq!(send_each(&mailer, &["a@b.example"]).await, [Ok(())], "{}", file.display());
        }
        assert_eq!(server.messages(), 2);
    }

    #[test]
    fn a_ca_file_that_cannot_be_read_is_refused_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "-----BEGIN NOTHING-----\n-----END NOTHING-----\n").unwrap();
        for file in [dir.path().join("missing.pem"), empty] {
            let url = format!("smtps://127.0.0.1:465?ca={}", file.display());
            let err = SmtpMailer::from_url(&url, sender()).err();
            assert!(matches!(err, Some(MailConfigError::InvalidUrl(_))), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_certificate_no_trusted_authority_signed_gets_no_mail() {
        let server = TinyServer::start(Behaviour { tls: ServerTls::Implicit, ..Behaviour::default() }).await;
        // Only the Mozilla roots: the test authority is not among them.
        let mailer = SmtpMailer::from_url(&server.url("smtps://", ""), sender()).unwrap();
        let results = send_each(&mailer, &["a@b.example"]).await;
        assert!(matches!(&results[0], Err(MailError::Transient(m)) if m.contains("TLS")), "{results:?}");
        assert_eq!(server.messages(), 0);
    }

    #[tokio::test]
    async fn starttls_comes_before_the_login_and_the_mail() {
        let login = ("bot@achex", "p@ss:word");
        let server =
            TinyServer::start(Behaviour { tls: ServerTls::StartTls, login: Some(login), ..Behaviour::default() }).await;
        let url = server.url("smtp://bot%40achex:p%40ss%3Aword@", "?tls=starttls");
        let mailer = SmtpMailer::from_url(&url, sender()).unwrap().trust_root_certificate(CA).unwrap();
        let results = send_each(&mailer, &["a@b.example", "c@b.example"]).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!((server.messages(), server.connections()), (2, 1), "(messages, connections)");
        assert_eq!(*server.seen.logins.lock().unwrap(), ["bot@achex"]);
    }

    #[tokio::test]
    async fn a_server_without_starttls_gets_no_mail_when_the_url_requires_it() {
        let server = TinyServer::start(Behaviour::default()).await;
        let mailer = SmtpMailer::from_url(&server.url("smtp://", "?tls=starttls"), sender())
            .unwrap()
            .trust_root_certificate(CA)
            .unwrap();
        let results = send_each(&mailer, &["a@b.example"]).await;
        assert!(matches!(&results[0], Err(MailError::Transient(m)) if m.contains("STARTTLS")), "{results:?}");
        assert_eq!(server.messages(), 0);
    }

    #[tokio::test]
    async fn auth_login_is_used_when_plain_is_not_offered_and_a_wrong_password_is_permanent() {
        let server =
            TinyServer::start(Behaviour { login: Some(("bot", "right")), login_only: true, ..Behaviour::default() })
                .await;
        let mailer = SmtpMailer::from_url(&server.url("smtp://bot:right@", ""), sender()).unwrap();
        assert_eq!(send_each(&mailer, &["a@b.example"]).await, [Ok(())]);
        assert_eq!(*server.seen.logins.lock().unwrap(), ["bot"]);

        let wrong = SmtpMailer::from_url(&server.url("smtp://bot:wrong@", ""), sender()).unwrap();
        let results = send_each(&wrong, &["a@b.example"]).await;
        assert!(matches!(&results[0], Err(MailError::Permanent(m)) if m.contains("535")), "{results:?}");
        assert_eq!(server.messages(), 1);
    }
}
