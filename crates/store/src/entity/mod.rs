//! sea-orm entities, one per table. They mirror `migrations/` column for column and are private to
//! this crate: the rest of the workspace sees domain types, never rows.

pub mod attachment;
pub mod auction;
pub mod auction_idempotency;
pub mod auction_log;
pub mod deal;
pub mod listing;
pub mod listing_event;
pub mod organization;
pub mod refresh_token;
pub mod user;
