//! Persistence for achex over SQLite or PostgreSQL, chosen by the database URL.
//!
//! [`Store`] owns the connection pool and offers repositories that speak domain types. Every write
//! goes through [`Store::write`], which on SQLite starts `BEGIN IMMEDIATE` so that two writers
//! queue on the lock at `BEGIN` instead of one failing with `SQLITE_BUSY` halfway through.

mod accounts;
mod aggregate;
mod attachments;
mod auctions;
mod connection;
mod entity;
mod error;
mod listings;
mod nodelay;
mod notifications;
mod outbox;
mod probe;
pub use probe::CommitProbe;
mod saved_searches;
mod sqlite_reader;
mod tokens;

pub use accounts::{NewOrganization, NewUser, Organization, User};
pub use attachments::{Attachment, NewAttachment};
pub use auctions::{AuctionPhase, AuctionRow, Deal};
pub use connection::{Durability, Store};
pub use error::StoreError;
pub use listings::{HitFacts, HitInstitute, ListingFilter, ListingPage, ListingTitle, PublicCursor};
pub use notifications::{
    DueDelivery, EmailClaim, InboxCursor, NewNotification, ParkedDelivery, RecipientAccount, RecordedFanOut,
    StoredNotification, notification_id,
};
pub use outbox::{OutboxEvent, Topic};
pub use saved_searches::SavedSearch;
pub use tokens::RefreshToken;
