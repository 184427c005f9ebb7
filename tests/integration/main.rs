//! The integration suite: one binary, a module per area. Every test starts its own server with
//! its own database (see `achex_tests::TestApp`).

mod architecture;
mod auctions;
mod auth;
mod authz;
mod browser;
mod crash;
mod health;
mod jwt;
mod lifecycle;
mod live;
mod notifications;
mod search;
mod storm;
mod validation;
