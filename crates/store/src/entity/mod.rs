//! sea-orm entities, one per table. They mirror `migrations/` column for column and are private to
//! this crate: the rest of the workspace sees domain types, never rows.

pub mod attachment;
pub mod auction;
pub mod auction_idempotency;
pub mod auction_log;
pub mod auction_watcher;
pub mod deal;
pub mod listing;
pub mod listing_event;
pub mod notification;
pub mod notification_delivery;
pub mod notification_preference;
pub mod organization;
pub mod outbox;
pub mod outbox_consumer;
pub mod refresh_token;
pub mod saved_search;
pub mod user;
