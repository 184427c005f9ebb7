pub mod admin;
pub mod attachments;
pub mod auctions;
pub mod auth;
pub mod health;
pub mod listings;
pub mod saved_searches;
pub mod search;
