//! The OpenAPI 3.1 document, generated from the handlers' annotations and the view types, served
//! at `/api/openapi.json` with interactive docs at `/api/docs/` (assets vendored: works offline).

use crate::routes::*;
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "achex API", description = "The achievement exchange: research institutes list scientific and \
technological achievements; enterprises find, license and buy them. Money is integer minor units with a \
currency; times are RFC 3339 UTC; every error is `{\"error\":{\"code\",\"message\",\"details\"}}`."),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::me,
        admin::verify_organization, admin::disable_user, admin::enable_user, admin::delete_user,
        listings::create, listings::list, listings::get, listings::update, listings::submit, listings::review,
        listings::withdraw, listings::history, listings::mine, listings::review_queue,
        attachments::upload, attachments::download,
        auctions::create, auctions::get, auctions::list, auctions::register, auctions::confirm_deposit,
        auctions::my_registration, auctions::of_listing, auctions::registrations,
        auctions::bid, auctions::bids, auctions::cancel, auctions::default, auctions::result,
        auctions::watch, auctions::unwatch, auctions::watchlist,
        search::search, search::suggest, search::similar,
        notifications::inbox, notifications::read, notifications::read_all, notifications::get_preferences,
        notifications::put_preferences, notifications::parked, notifications::retry,
        saved_searches::create, saved_searches::list, saved_searches::get, saved_searches::delete,
        crate::ws::connect,
        health::healthz, health::readyz, health::metrics,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts, organisations and sessions"),
        (name = "listings", description = "Achievements, their review and attachments"),
        (name = "auctions", description = "Competitive bidding: English with proxy bids and soft close, two-phase, sealed, Dutch; live websocket"),
        (name = "search", description = "Chinese and English search with filters and facets, suggestions, similar listings, saved searches"),
        (name = "notifications", description = "Inbox, preferences; live pushes on the websocket topic `user`"),
        (name = "admin", description = "Platform administration"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}
