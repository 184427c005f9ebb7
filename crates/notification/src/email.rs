//! One e-mail to one user, and its MIME form.
//!
//! **The dedup contract.** Delivery is at least once: after a crash or a lost reply the same
//! outbox event may be sent again. Every copy of one event for one user therefore carries the
//! same `Message-ID`, `<{event_id}.{user_id}@{sender domain}>` (see [`message_id`]), so receiving
//! systems and mail clients can recognise a repeat, and the [`FileOutbox`](crate::FileOutbox)
//! names its file after the same pair and writes it at most once.

use crate::error::{MailConfigError, MailError};
use crate::render::{Rendered, one_line};
use achex_core::{Lang, UserId};
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Who receives an e-mail. The user id is part of the message's identity (see [`message_id`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub user_id: UserId,
    /// The display name; may be empty.
    pub name: String,
    pub address: String,
}

/// A rendered notification addressed to one user, ready for a [`Mailer`](crate::Mailer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// The outbox event this e-mail reports; with the recipient it identifies the message.
    pub event_id: Uuid,
    pub to: Recipient,
    pub lang: Lang,
    pub rendered: Rendered,
}

/// The stable Message-ID of the e-mail about `event_id` to `user`: `<{event_id}.{user}@{domain}>`.
/// It depends on nothing else (not the time, not the attempt), so a redelivered copy is
/// recognisably the same message.
pub fn message_id(event_id: Uuid, user: UserId, domain: &str) -> String {
    format!("<{event_id}.{user}@{domain}>")
}

/// The configured `From` of every notification, e.g. `achex <notify@achex.example>`. Its domain
/// is also the right-hand side of every Message-ID.
#[derive(Clone, PartialEq, Eq)]
pub struct Sender(Mailbox);

impl Sender {
    pub fn new(name: Option<String>, address: &str) -> Result<Self, MailConfigError> {
        let address =
            address.trim().parse().map_err(|e| MailConfigError::InvalidSender(format!("{address:?}: {e}")))?;
        Ok(Self(Mailbox::new(name.filter(|n| !n.trim().is_empty()), address)))
    }

    /// The domain of the sender address.
    pub fn domain(&self) -> &str {
        self.0.email.domain()
    }

    pub fn mailbox(&self) -> &Mailbox {
        &self.0
    }
}

impl FromStr for Sender {
    type Err = MailConfigError;

    /// Accepts `notify@achex.example` and `achex <notify@achex.example>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse::<Mailbox>().map(Self).map_err(|e| MailConfigError::InvalidSender(format!("{s:?}: {e}")))
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sender({})", self.0)
    }
}

/// The MIME message for `email`: multipart/alternative with the plain-text part first and the
/// HTML part second (clients show the last one they can display), both UTF-8; `From`, `To`,
/// `Subject`, `Date` (= `date`), the stable `Message-ID`, and `Auto-Submitted: auto-generated`
/// (RFC 3834) so vacation responders don't answer notifications.
///
/// A recipient address that does not parse is a [`MailError::Permanent`]: no retry can fix it.
pub fn build_message(email: &OutgoingEmail, from: &Sender, date: DateTime<Utc>) -> Result<Message, MailError> {
    let address = email
        .to
        .address
        .trim()
        .parse()
        .map_err(|e| MailError::Permanent(format!("recipient address {:?} is invalid: {e}", email.to.address)))?;
    // A display name goes into a header: one line, and no name at all rather than an empty one.
    let name = Some(one_line(&email.to.name, 100)).filter(|n| !n.is_empty());
    let to = Mailbox::new(name, address);
    Message::builder()
        .from(from.mailbox().clone())
        .to(to)
        .subject(one_line(&email.rendered.subject, 200))
        .date(date.into())
        .message_id(Some(message_id(email.event_id, email.to.user_id, from.domain())))
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".to_owned()))
        .multipart(MultiPart::alternative_plain_html(email.rendered.text.clone(), email.rendered.html.clone()))
        .map_err(|e| MailError::Permanent(format!("the message could not be built: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::samples;
    use crate::render::render;

    fn email(lang: Lang) -> OutgoingEmail {
        let payload = &samples::all()[0];
        OutgoingEmail {
            event_id: Uuid::now_v7(),
            to: Recipient { user_id: UserId::new(), name: "王小明".into(), address: "wang@example.com".into() },
            lang,
            rendered: render(payload, lang, "https://achex.example"),
        }
    }

    fn sender() -> Sender {
        "achex <notify@achex.example>".parse().unwrap()
    }

    #[test]
    fn the_message_id_depends_only_on_the_event_and_the_user() {
        let event = Uuid::parse_str("0192f0c4-5d2e-7a10-8f00-000000000001").unwrap();
        let user = UserId(Uuid::parse_str("0192f0c4-5d2e-7a10-8f00-0000000000aa").unwrap());
        let id = message_id(event, user, "achex.example");
        assert_eq!(id, "<0192f0c4-5d2e-7a10-8f00-000000000001.0192f0c4-5d2e-7a10-8f00-0000000000aa@achex.example>");
        assert_eq!(message_id(event, user, "achex.example"), id);
        assert_ne!(message_id(event, UserId::new(), "achex.example"), id);
    }

    #[test]
    fn the_mime_message_is_multipart_alternative_with_the_stable_message_id() {
        let email = email(Lang::Zh);
        let raw = String::from_utf8(build_message(&email, &sender(), Utc::now()).unwrap().formatted()).unwrap();
        let expected_id = message_id(email.event_id, email.to.user_id, "achex.example");
        assert!(raw.contains(&format!("Message-ID: {expected_id}\r\n")), "{raw}");
        assert!(raw.contains("Content-Type: multipart/alternative;"), "{raw}");
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8"), "{raw}");
        assert!(raw.contains("Content-Type: text/html; charset=utf-8"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated\r\n"), "{raw}");
        assert!(raw.contains("From: achex <notify@achex.example>\r\n"), "{raw}");
        assert!(raw.contains("\r\nDate: "), "{raw}");
        // Chinese subjects and names travel as RFC 2047 encoded words; the message itself is ASCII.
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        assert!(raw.is_ascii());
        assert!(raw.find("text/plain").unwrap() < raw.find("text/html").unwrap());
    }

    #[test]
    fn the_same_email_built_twice_has_the_same_message_id() {
        let email = email(Lang::En);
        let first = build_message(&email, &sender(), Utc::now()).unwrap();
        let second = build_message(&email, &sender(), Utc::now()).unwrap();
        assert_eq!(first.headers().get_raw("Message-ID"), second.headers().get_raw("Message-ID"));
    }

    #[test]
    fn an_invalid_recipient_address_is_a_permanent_failure() {
        let mut email = email(Lang::En);
        email.to.address = "not an address".into();
        assert!(matches!(build_message(&email, &sender(), Utc::now()), Err(MailError::Permanent(_))));
    }

    #[test]
    fn a_sender_without_an_at_sign_is_a_configuration_error() {
        assert!(matches!("achex".parse::<Sender>(), Err(MailConfigError::InvalidSender(_))));
        assert_eq!(Sender::new(None, "notify@achex.example").unwrap().domain(), "achex.example");
    }
}
