//! Delivery over SMTP with lettre's pooled async transport.
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
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use percent_encoding::percent_decode_str;
use std::fmt;
use url::Url;

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

/// Sends through an SMTP server, reusing connections from a pool (lettre's default: up to 10,
/// idle ones closed after 60 s).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Sender,
    /// host:port and security, for logs; never the credentials.
    describe: String,
}

impl SmtpMailer {
    /// `smtp://host:port`, `smtp://host:port?tls=starttls` or `smtps://host:port`, with optional
    /// `user:password@` (percent-encoded). Default ports: 25 for smtp, 587 with STARTTLS,
    /// 465 for smtps.
    pub fn from_url(url: &str, from: Sender) -> Result<Self, MailConfigError> {
        let endpoint = parse_url(url)?;
        let tls_parameters = || {
            TlsParameters::new(endpoint.host.clone())
                .map_err(|e| MailConfigError::InvalidUrl(format!("TLS setup for {}: {e}", endpoint.host)))
        };
        let tls = match endpoint.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls_parameters()?),
            Security::Implicit => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host.clone()).port(endpoint.port).tls(tls);
        if let Some((user, password)) = endpoint.credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            describe: format!("{}:{} ({:?})", endpoint.host, endpoint.port, endpoint.security),
        })
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
        match self.transport.send(message).await {
            Ok(_) => {
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

    #[tokio::test]
    async fn a_refused_connection_is_a_transient_failure() {
        // Bind then drop a listener: nothing listens on that port any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mailer =
            SmtpMailer::from_url(&format!("smtp://127.0.0.1:{port}"), "n@achex.example".parse().unwrap()).unwrap();
        let email = crate::OutgoingEmail {
            event_id: uuid::Uuid::now_v7(),
            to: crate::Recipient {
                user_id: achex_core::UserId::new(),
                name: String::new(),
                address: "a@b.example".into(),
            },
            lang: achex_core::Lang::En,
            rendered: crate::render(&crate::payload::samples::all()[0], achex_core::Lang::En, "http://localhost"),
        };
        let result = mailer.send(&email).await;
        assert!(matches!(result, Err(MailError::Transient(_))), "{result:?}");
    }
}
