//! Notifications of achex: what there is to tell a user, in which words, and how an e-mail gets
//! out.
//!
//! This crate is the pure part plus the mail transports. It holds no database and serves no
//! HTTP: the outbox table, the dispatcher loop that reads it, the inbox rows and the websocket
//! hub live in `store`, `server` and `api`, and call in here to decide ([`Preferences`],
//! [`RetryPolicy`]), to word ([`render`]) and to send ([`Mailer`]). See the README for the
//! contracts (Message-ID and deduplication, the file outbox layout, the retry schedule).

pub mod email;
pub mod error;
pub mod kinds;
pub mod mailer;
pub mod payload;
pub mod preferences;
pub mod render;
pub mod retry;

pub use email::{OutgoingEmail, Recipient, Sender, build_message, message_id};
pub use error::{MailConfigError, MailError};
pub use kinds::{Channel, NotificationKind, UnknownKind};
pub use mailer::{FileOutbox, MailConfig, Mailer, MemoryMailer, SmtpMailer, mailer_from_config};
pub use payload::{AgendaStage, ListingChange, MatchedListing, NotificationPayload};
pub use preferences::{ChannelSwitches, ChannelSwitchesInput, Preferences, PreferencesError, PreferencesInput};
pub use render::{Rendered, render};
pub use retry::RetryPolicy;
