//! Liveness, readiness and metrics.

use crate::error::ApiError;
use crate::state::AppState;
use crate::views::Health;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The process can serve: the database answers and its schema is current.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, description = "not ready")))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ready = state.store.ping().await.is_ok() && state.store.pending_migrations().await.is_ok_and(|n| n == 0);
    if ready {
        Ok(HttpResponse::Ok().json(Health { status: "ready" }))
    } else {
        Err(ApiError::BadRequest {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "not_ready",
            message: "the database is not reachable or not migrated".into(),
        })
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
