//! The `Mailer` port and its transports: SMTP for production, a directory of `.eml` files by
//! default, and memory for tests.

mod file_outbox;
mod smtp;

pub use file_outbox::FileOutbox;
pub use smtp::SmtpMailer;

use crate::email::{OutgoingEmail, Sender};
use crate::error::{MailConfigError, MailError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// Sends one e-mail. Implementations must be safe to call again with the same email (delivery is
/// at least once): the message keeps its Message-ID, and the file outbox writes it only once.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError>;

    /// Sends several e-mails, in order, in as few round trips as the transport allows; the
    /// result of each, in the same order. By default, one `send` after the other.
    async fn send_batch(&self, emails: &[OutgoingEmail]) -> Vec<Result<(), MailError>> {
        let mut results = Vec::with_capacity(emails.len());
        for email in emails {
            results.push(self.send(email).await);
        }
        results
    }
}

/// Which transport to use, as written in the configuration:
///
/// ```toml
/// [mail]
/// transport = "file"            # or "smtp"
/// dir = "data/outbox"           # file: where the .eml files go
/// # url = "smtps://user:password@smtp.example.com:465"   # smtp
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case", deny_unknown_fields)]
pub enum MailConfig {
    /// `smtp://host:port` (plain; `?tls=starttls` to require STARTTLS) or `smtps://host:port`
    /// (implicit TLS); credentials as URL userinfo, percent-encoded.
    Smtp { url: String },
    /// One `.eml` file per message in `dir` (created if missing).
    File { dir: PathBuf },
}

impl fmt::Debug for MailConfig {
    /// Never prints the SMTP password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailConfig::Smtp { url } => f.debug_struct("Smtp").field("url", &smtp::redact(url)).finish(),
            MailConfig::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
        }
    }
}

/// Builds the configured transport. Errors are configuration mistakes, for start-up to report.
pub fn mailer_from_config(config: &MailConfig, from: Sender) -> Result<Arc<dyn Mailer>, MailConfigError> {
    Ok(match config {
        MailConfig::Smtp { url } => Arc::new(SmtpMailer::from_url(url, from)?),
        MailConfig::File { dir } => Arc::new(FileOutbox::new(dir.clone(), from)?),
    })
}

/// Keeps what it is asked to send, for tests of code that sends mail. Failures can be queued
/// with [`fail_next`](Self::fail_next) to exercise retries.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<OutgoingEmail>>,
    failures: Mutex<VecDeque<MailError>>,
}

impl MemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every e-mail sent so far, in order, repeats included.
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The next `send` fails with `error` (queued errors are used one per call, in order).
    pub fn fail_next(&self, error: MailError) {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner).push_back(error);
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        if let Some(error) = self.failures.lock().unwrap_or_else(PoisonError::into_inner).pop_front() {
            return Err(error);
        }
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).push(email.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Recipient;
    use crate::payload::samples;
    use crate::render::render;
    use achex_core::{Lang, UserId};

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            event_id: uuid::Uuid::now_v7(),
            to: Recipient { user_id: UserId::new(), name: String::new(), address: "a@example.com".into() },
            lang: Lang::En,
            rendered: render(&samples::all()[3], Lang::En, "http://localhost:8080"),
        }
    }

    #[tokio::test]
    async fn the_memory_mailer_records_sends_and_plays_queued_failures() {
        let mailer = MemoryMailer::new();
        mailer.fail_next(MailError::Transient("451 try later".into()));
        let email = email();
        assert_eq!(mailer.send(&email).await, Err(MailError::Transient("451 try later".into())));
        assert_eq!(mailer.send(&email).await, Ok(()));
        assert_eq!(mailer.sent(), vec![email]);
    }

    #[test]
    fn mail_config_reads_from_toml_shaped_json_and_hides_the_password() {
        let config: MailConfig = serde_json::from_value(
            serde_json::json!({"transport": "smtp", "url": "smtps://bot:s3cret@mail.example.com"}),
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("mail.example.com"), "{shown}");

        let file: MailConfig =
            serde_json::from_value(serde_json::json!({"transport": "file", "dir": "data/outbox"})).unwrap();
        assert_eq!(file, MailConfig::File { dir: "data/outbox".into() });
    }

    #[tokio::test]
    async fn the_file_transport_is_built_from_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = MailConfig::File { dir: dir.path().join("outbox") };
        let mailer = mailer_from_config(&config, "notify@achex.example".parse().unwrap()).unwrap();
        mailer.send(&email()).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("outbox")).unwrap().count(), 1);
    }

    #[test]
    fn an_smtp_url_with_an_unknown_scheme_is_refused_at_start_up() {
        let config = MailConfig::Smtp { url: "http://mail.example.com".into() };
        let err = mailer_from_config(&config, "notify@achex.example".parse().unwrap()).err();
        assert!(matches!(err, Some(MailConfigError::InvalidUrl(_))), "{err:?}");
    }
}
