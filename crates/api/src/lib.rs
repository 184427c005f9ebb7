//! The HTTP face of achex: routes under `/api/v1`, authentication, the error envelope, OpenAPI.
//!
//! [`configure`] mounts everything on an actix `App`; the server crate builds the [`AppState`]
//! and the HTTP server around it. Handlers are thin: they authenticate, authorize, call the domain
//! (`achex-listing`) and the store (`achex-store`), and map results to views.

pub mod auth;
pub mod error;
pub mod extract;
pub mod files;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod views;
pub mod webapp;
pub mod ws;

pub use error::ApiError;
pub use state::AppState;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, web};
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

/// Content-Security-Policy for every response: only our own scripts, no framing by anyone.
/// The docs page needs inline styles and data: images; nothing needs inline scripts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers added to every response.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"))
}

/// Mounts every route. The caller wraps the app with [`security_headers`] and the metrics
/// middleware ([`metrics::record`]).
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    use routes::*;
    cfg.app_data(state)
        .app_data(web::QueryConfig::default().error_handler(extract::query_error))
        .app_data(web::PathConfig::default().error_handler(extract::path_error))
        .app_data(web::PayloadConfig::default().limit(extract::JSON_LIMIT))
        .configure(crate::webapp::configure)
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", openapi::ApiDoc::openapi()))
        .route(
            "/api/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/api/docs/")).finish()
            }),
        )
        .service(
            web::scope("/api/v1")
                .service(post("/auth/register", auth::register))
                .service(post("/auth/login", auth::login))
                .service(post("/auth/refresh", auth::refresh))
                .service(post("/auth/logout", auth::logout))
                .service(get("/me", auth::me))
                .service(get("/me/listings", listings::mine))
                .service(get("/review-queue", listings::review_queue))
                .service(post("/admin/organizations/{id}/verify", admin::verify_organization))
                .service(post("/admin/users/{id}/disable", admin::disable_user))
                .service(post("/admin/users/{id}/enable", admin::enable_user))
                .service(resource("/admin/users/{id}").route(web::delete().to(admin::delete_user)))
                .service(
                    resource("/listings").route(web::get().to(listings::list)).route(web::post().to(listings::create)),
                )
                .service(
                    resource("/listings/{id}")
                        .route(web::get().to(listings::get))
                        .route(web::patch().to(listings::update)),
                )
                .service(post("/listings/{id}/submit", listings::submit))
                .service(post("/listings/{id}/review", listings::review))
                .service(post("/listings/{id}/withdraw", listings::withdraw))
                .service(get("/listings/{id}/history", listings::history))
                .service(get("/listings/{id}/similar", search::similar))
                .service(get("/notifications", notifications::inbox))
                .service(post("/notifications/read-all", notifications::read_all))
                .service(post("/notifications/{id}/read", notifications::read))
                .service(
                    resource("/notification-preferences")
                        .route(web::get().to(notifications::get_preferences))
                        .route(web::put().to(notifications::put_preferences)),
                )
                .service(get("/admin/notifications/parked", notifications::parked))
                .service(post("/admin/notifications/{id}/retry", notifications::retry))
                .service(get("/search", search::search))
                .service(get("/search/suggest", search::suggest))
                .service(
                    resource("/saved-searches")
                        .route(web::get().to(saved_searches::list))
                        .route(web::post().to(saved_searches::create)),
                )
                .service(
                    resource("/saved-searches/{id}")
                        .route(web::get().to(saved_searches::get))
                        .route(web::delete().to(saved_searches::delete)),
                )
                .service(post("/listings/{id}/attachments", attachments::upload))
                .service(get("/attachments/{id}", attachments::download))
                .service(
                    resource("/listings/{id}/auctions")
                        .route(web::get().to(auctions::of_listing))
                        .route(web::post().to(auctions::create)),
                )
                .service(get("/auctions", auctions::list))
                .service(get("/auctions/{id}", auctions::get))
                .service(
                    resource("/auctions/{id}/registrations")
                        .route(web::get().to(auctions::registrations))
                        .route(web::post().to(auctions::register)),
                )
                .service(get("/auctions/{id}/registrations/me", auctions::my_registration))
                .service(post("/auctions/{id}/registrations/{rid}/confirm-deposit", auctions::confirm_deposit))
                .service(
                    resource("/auctions/{id}/bids")
                        .route(web::get().to(auctions::bids))
                        .route(web::post().to(auctions::bid)),
                )
                .service(
                    resource("/auctions/{id}/watch")
                        .route(web::post().to(auctions::watch))
                        .route(web::delete().to(auctions::unwatch)),
                )
                .service(get("/me/watchlist", auctions::watchlist))
                .service(post("/auctions/{id}/cancel", auctions::cancel))
                .service(post("/auctions/{id}/default", auctions::default))
                .service(get("/auctions/{id}/result", auctions::result))
                .service(get("/ws", crate::ws::connect))
                .default_service(web::to(not_found)),
        )
        .default_service(web::to(not_found));
}

/// A resource whose other methods answer 405 in the envelope.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    resource(path).route(web::get().to(handler))
}

fn post<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    resource(path).route(web::post().to(handler))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::BadRequest {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "this path does not accept that method".into(),
    })
}

/// Unknown paths answer in the envelope too.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Wraps an app with the middleware every deployment uses.
pub fn middleware() -> DefaultHeaders {
    security_headers()
}

pub use actix_web::middleware::from_fn as middleware_from_fn;
pub use metrics::record as record_metrics;
