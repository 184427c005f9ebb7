//! The two ways sending can fail, and the ways mail configuration can be wrong.

/// Why an e-mail was not delivered. The dispatcher only needs one decision from it: try again
/// later, or give up on this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: a 4xx reply (greylisting, a full queue), a refused or dropped connection,
    /// a timeout, a full disk.
    #[error("temporary mail failure: {0}")]
    Transient(String),
    /// Retrying can't help: a 5xx reply (no such mailbox, rejected as spam), an address that does
    /// not parse. The message should be marked failed, not retried.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

impl MailError {
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Transient(_))
    }
}

/// Mail configuration that can't work; reported at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailConfigError {
    #[error("invalid sender address {0}")]
    InvalidSender(String),
    #[error("invalid SMTP URL: {0}")]
    InvalidUrl(String),
    #[error("the file outbox directory can't be used: {0}")]
    OutboxDirectory(String),
}
