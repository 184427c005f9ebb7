//! Sign-up, sign-in, token refresh and sign-out.

use crate::auth::{AuthUser, TokenService, hash_refresh_token, random_code};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Body;
use crate::state::AppState;
use crate::views::{MeView, RegisteredView, TokenResponse};
use achex_core::{Lang, Role};
use achex_listing::ValidationErrors;
use achex_listing::validation::looks_like_email;
use achex_store::{NewOrganization, NewUser, StoreError, User};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 256;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub display_name: String,
    /// `institute_staff`, `enterprise_member` or `organizer`; platform roles are granted by an admin.
    pub role: Role,
    #[serde(default)]
    pub language: Option<Lang>,
    /// Create a new (unverified) organisation with this name…
    #[serde(default)]
    pub organization_name: Option<String>,
    /// …or join an existing one with the invite code a member shared.
    #[serde(default)]
    pub invite_code: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl RegisterRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if !looks_like_email(self.email.trim()) {
            errors.add("email", "invalid_format", "not an e-mail address");
        }
        let chars = self.password.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            errors.add("password", "too_short", format!("at least {PASSWORD_MIN_CHARS} characters"));
        } else if chars > PASSWORD_MAX_CHARS {
            errors.add("password", "too_long", format!("at most {PASSWORD_MAX_CHARS} characters"));
        }
        let name = self.display_name.trim();
        if name.is_empty() {
            errors.add("display_name", "required", "must not be empty");
        } else if name.chars().count() > 100 {
            errors.add("display_name", "too_long", "at most 100 characters");
        }
        if !self.role.is_self_service() {
            errors.add("role", "invalid_value", "choose institute_staff, enterprise_member or organizer");
        }
        match (&self.organization_name, &self.invite_code) {
            (Some(_), Some(_)) => {
                errors.add("invite_code", "inconsistent", "give either organization_name or invite_code, not both")
            }
            (None, None) => {
                errors.add("organization_name", "required", "name your organisation or give an invite code")
            }
            (Some(org), None) => {
                let org = org.trim();
                if org.is_empty() {
                    errors.add("organization_name", "required", "must not be empty");
                } else if org.chars().count() > 200 {
                    errors.add("organization_name", "too_long", "at most 200 characters");
                }
            }
            (None, Some(_)) => {}
        }
        errors.into_result()
    }
}

async fn issue_tokens(state: &AppState, user: &User) -> Result<TokenResponse, ApiError> {
    let now = state.clock.now();
    let access_token = state.tokens.access_token(user, now)?;
    let (refresh_token, hash) = TokenService::new_refresh_token();
    state
        .store
        .insert_refresh_token(user.id, uuid::Uuid::now_v7(), hash, now, now + state.tokens.refresh_ttl())
        .await?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl().num_seconds(),
    })
}

/// Create an account, with a new organisation or by joining one through its invite code.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = RegisteredView), (status = 409, body = ErrorEnvelope, description = "email_taken"),
              (status = 422, body = ErrorEnvelope)))]
pub async fn register(state: web::Data<AppState>, Body(req): Body<RegisterRequest>) -> Result<HttpResponse, ApiError> {
    req.validate()?;
    let now = state.clock.now();
    let password_hash = state.passwords.hash_async(req.password.clone()).await?;
    let new_user = NewUser {
        email: req.email.trim().to_lowercase(),
        display_name: req.display_name.trim().to_owned(),
        password_hash,
        role: req.role,
        language: req.language.unwrap_or(Lang::Zh),
    };
    let (user, org) = match (&req.organization_name, &req.invite_code) {
        (Some(name), None) => {
            let org = NewOrganization {
                name: name.trim().to_owned(),
                kind: req.role.organization_kind(),
                invite_code: random_code(18),
                verified: false,
            };
            let (org, user) = state.store.create_organization_with_user(org, new_user, now).await?;
            (user, org)
        }
        (None, Some(code)) => {
            let invalid = || {
                ApiError::validation("invite_code", "invalid_invite_code", "no organisation of your kind has this code")
            };
            let org = match state.store.organization_by_invite_code(code.trim()).await {
                Ok(org) => org,
                Err(StoreError::NotFound) => return Err(invalid()),
                Err(e) => return Err(e.into()),
            };
            // An enterprise code cannot make someone institute staff, and nobody joins the platform.
            if org.kind != req.role.organization_kind() {
                return Err(invalid());
            }
            let user = state.store.create_user(org.id, new_user, now).await?;
            (user, org)
        }
        _ => unreachable!("validate() requires exactly one of organization_name and invite_code"),
    };
    let tokens = issue_tokens(&state, &user).await?;
    Ok(HttpResponse::Created().json(RegisteredView { user: MeView::new(user, org), tokens }))
}

fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

/// Sign in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorEnvelope, description = "invalid_credentials"),
              (status = 429, body = ErrorEnvelope, description = "too_many_attempts")))]
pub async fn login(
    state: web::Data<AppState>,
    http: HttpRequest,
    Body(req): Body<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let email = req.email.trim().to_lowercase();
    let ip = client_ip(&http);
    let limiter = &state.login_limiter;
    if let Some(wait) = limiter.per_ip.blocked_for(&ip, now).or_else(|| limiter.per_account.blocked_for(&email, now)) {
        return Err(ApiError::TooManyRequests { retry_after_secs: wait });
    }
    limiter.per_ip.record(&ip, now);
    let user = match state.store.user_by_email(&email).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = state.passwords.verify_async(req.password, hash).await?;
    match user {
        Some(user) if password_ok && user.is_active() => {
            limiter.per_account.clear(&email);
            Ok(HttpResponse::Ok().json(issue_tokens(&state, &user).await?))
        }
        _ => {
            limiter.per_account.record(&email, now);
            Err(ApiError::unauthenticated("invalid_credentials", "wrong e-mail or password"))
        }
    }
}

/// Exchange a refresh token for a new pair. Each refresh token works once; presenting one that
/// was already exchanged revokes every token descended from the same sign-in.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse),
              (status = 401, body = ErrorEnvelope, description = "invalid_token, token_expired, token_revoked or token_reused")))]
pub async fn refresh(state: web::Data<AppState>, Body(req): Body<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let invalid = || ApiError::unauthenticated("invalid_token", "the refresh token is not valid");
    let token = match state.store.refresh_token_by_hash(&hash_refresh_token(req.refresh_token.trim())).await {
        Ok(token) => token,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    if token.revoked_at.is_some() {
        return Err(ApiError::unauthenticated("token_revoked", "this session was signed out"));
    }
    if token.used_at.is_some() {
        state.store.revoke_refresh_family(token.family_id, now).await?;
        return Err(ApiError::unauthenticated("token_reused", "this refresh token was already used; sign in again"));
    }
    if token.expires_at <= now {
        return Err(ApiError::unauthenticated("token_expired", "the refresh token has expired; sign in again"));
    }
    let user = state.store.user(token.user_id).await?;
    if !user.is_active() {
        return Err(ApiError::unauthenticated("account_disabled", "this account is disabled"));
    }
    let (refresh_token, hash) = TokenService::new_refresh_token();
    match state.store.rotate_refresh_token(&token, hash, now, now + state.tokens.refresh_ttl()).await {
        Ok(()) => {}
        Err(StoreError::Stale) => {
            // Lost a race with another refresh of the same token: that is reuse too.
            state.store.revoke_refresh_family(token.family_id, now).await?;
            return Err(ApiError::unauthenticated(
                "token_reused",
                "this refresh token was already used; sign in again",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: state.tokens.access_token(&user, now)?,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl().num_seconds(),
    }))
}

/// Sign out: revokes the refresh token and every token of its family. Always 204, so it cannot be
/// used to probe which tokens exist.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "signed out")))]
pub async fn logout(state: web::Data<AppState>, Body(req): Body<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    match state.store.refresh_token_by_hash(&hash_refresh_token(req.refresh_token.trim())).await {
        Ok(token) => {
            state.store.revoke_refresh_family(token.family_id, state.clock.now()).await?;
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user and their organisation.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeView), (status = 401, body = ErrorEnvelope)))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let org = state.store.organization(user.0.organization_id).await?;
    Ok(HttpResponse::Ok().json(MeView::new(user.0, org)))
}
