//! Platform administration: verifying organisations, disabling and deleting accounts.

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;
use crate::views::OrganizationView;
use achex_core::{OrganizationId, Role, UserId};
use actix_web::{HttpResponse, web};

/// Mark an organisation verified (reviewers and admins). Idempotent.
#[utoipa::path(post, path = "/api/v1/admin/organizations/{id}/verify", tag = "admin", security(("bearer" = [])),
    params(("id" = OrganizationId, Path)),
    responses((status = 200, body = OrganizationView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn verify_organization(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<OrganizationId>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Reviewer, Role::Admin])?;
    let org = state.store.verify_organization(id.into_inner(), user.id(), state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(OrganizationView::public(org)))
}

async fn set_disabled(
    state: &AppState,
    admin: &AuthUser,
    id: UserId,
    disabled: bool,
) -> Result<HttpResponse, ApiError> {
    admin.require_role(&[Role::Admin])?;
    if id == admin.id() {
        return Err(ApiError::conflict("cannot_change_self", "an admin cannot disable or delete their own account"));
    }
    state.store.set_user_disabled(id, disabled).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Disable an account: it can no longer sign in and its tokens stop working at once (admins).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/disable", tag = "admin", security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn disable_user(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &user, id.into_inner(), true).await
}

/// Enable a disabled account again (admins).
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/enable", tag = "admin", security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn enable_user(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(&state, &user, id.into_inner(), false).await
}

/// Delete an account (kept for the audit trail, but unusable) (admins).
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = UserId, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn delete_user(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Admin])?;
    let id = id.into_inner();
    if id == user.id() {
        return Err(ApiError::conflict("cannot_change_self", "an admin cannot disable or delete their own account"));
    }
    state.store.delete_user(id, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
