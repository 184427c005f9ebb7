//! Passwords, access tokens and refresh tokens, and the extractors that authenticate a request.
//!
//! - Passwords: argon2id at the OWASP minimum (19 MiB, t=2, p=1), hashed off the async workers.
//! - Access tokens: JWT, HS256 only (the algorithm is pinned, so `alg: none` or a swapped
//!   algorithm is refused), with `iss`, `aud`, `exp` ≤ 15 min and `nbf`. Time claims are checked
//!   against the server's [`Clock`], not the library's own idea of now, so tests can move time.
//! - Refresh tokens: 256 random bits, opaque, stored as a SHA-256 (see `achex_store::tokens`).
//! - Every authenticated request reloads the user, so disabling or deleting an account ends its
//!   sessions at once rather than when the token expires.

use crate::error::ApiError;
use crate::state::AppState;
use achex_core::{Role, UserId};
use achex_store::{StoreError, User};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm as ArgonAlgorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Largest clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 30;
/// Upper bound on an access token's lifetime, whatever the configuration says.
pub const MAX_ACCESS_TTL_SECS: i64 = 15 * 60;

#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// Verified against when the account does not exist, so both paths cost the same time and
    /// response timing does not reveal which e-mails are registered.
    dummy_hash: Arc<String>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHasher(argon2id)")
    }
}

impl PasswordHasher {
    pub fn new() -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid");
        let argon2 = Argon2::new(ArgonAlgorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon2.hash_password(b"no such account").expect("hashing a constant succeeds").to_string();
        Self { argon2, dummy_hash: Arc::new(dummy_hash) }
    }

    pub fn hash(&self, password: &str) -> Result<String, ApiError> {
        self.argon2
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    pub fn verify(&self, password: &str, hash: &str) -> bool {
        self.argon2.verify_password(password.as_bytes(), hash).is_ok()
    }

    /// Spends the time of one verification and fails.
    pub fn verify_dummy(&self, password: &str) -> bool {
        let _ = self.argon2.verify_password(password.as_bytes(), self.dummy_hash.as_str());
        false
    }

    /// Hashes on the blocking pool: argon2 takes tens of milliseconds of CPU by design.
    pub async fn hash_async(&self, password: String) -> Result<String, ApiError> {
        let hasher = self.clone();
        web::block(move || hasher.hash(&password)).await.map_err(ApiError::internal)?
    }

    pub async fn verify_async(&self, password: String, hash: Option<String>) -> Result<bool, ApiError> {
        let hasher = self.clone();
        web::block(move || match hash {
            Some(hash) => hasher.verify(&password, &hash),
            None => hasher.verify_dummy(&password),
        })
        .await
        .map_err(ApiError::internal)
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Always `access`: a token minted for another purpose is refused here.
    pub typ: String,
    pub role: String,
}

#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService").field("issuer", &self.issuer).field("audience", &self.audience).finish()
    }
}

/// A freshly issued token pair.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

impl TokenService {
    /// `secret` must be at least 32 bytes; the access lifetime is capped at 15 minutes.
    pub fn new(
        secret: &[u8],
        issuer: impl Into<String>,
        audience: impl Into<String>,
        access_ttl: Duration,
        refresh_ttl: Duration,
    ) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the JWT secret must be at least 32 bytes".into());
        }
        if access_ttl <= Duration::zero() || access_ttl > Duration::seconds(MAX_ACCESS_TTL_SECS) {
            return Err("access tokens live between 1 second and 15 minutes".into());
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: issuer.into(),
            audience: audience.into(),
            access_ttl,
            refresh_ttl,
        })
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn access_token(&self, user: &User, now: DateTime<Utc>) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user.id.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
            typ: "access".into(),
            role: user.role.as_str().into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Verifies signature, algorithm, issuer, audience and type, then the time claims against `now`.
    pub fn verify_access(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, ApiError> {
        let invalid = || ApiError::unauthenticated("invalid_token", "the access token is not valid");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Time is checked below against the server clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map_err(|_| invalid())?;
        let claims = data.claims;
        // A token claiming a longer life than we ever issue was not made by this server's rules.
        if claims.typ != "access" || claims.exp - claims.iat > MAX_ACCESS_TTL_SECS || claims.nbf < claims.iat {
            return Err(invalid());
        }
        let now = now.timestamp();
        if claims.exp + LEEWAY_SECS <= now {
            return Err(ApiError::unauthenticated("token_expired", "the access token has expired; refresh it"));
        }
        if claims.nbf - LEEWAY_SECS > now {
            return Err(invalid());
        }
        Ok(claims)
    }

    /// A new opaque refresh token and the hash under which it is stored.
    pub fn new_refresh_token() -> (String, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_refresh_token(&token);
        (token, hash)
    }
}

pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Random text for invite codes and the like.
pub fn random_code(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The signed-in user. Extracting it fails with 401 when the request carries no valid token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub User);

impl AuthUser {
    pub fn id(&self) -> UserId {
        self.0.id
    }

    pub fn role(&self) -> Role {
        self.0.role
    }

    pub fn require_role(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden("forbidden_role", "your role may not do this"))
        }
    }
}

/// The signed-in user if a token is present; a present but invalid token is still a 401, so a
/// client never silently loses its identity.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

async fn authenticate(state: web::Data<AppState>, header: Option<String>) -> Result<Option<User>, ApiError> {
    let Some(header) = header else { return Ok(None) };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthenticated("invalid_token", "use 'Authorization: Bearer <token>'"))?;
    let claims = state.tokens.verify_access(token, state.clock.now())?;
    let user_id: UserId =
        claims.sub.parse().map_err(|_| ApiError::unauthenticated("invalid_token", "the access token is not valid"))?;
    let user = match state.store.user(user_id).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => {
            return Err(ApiError::unauthenticated("invalid_token", "the access token is not valid"));
        }
        Err(e) => return Err(e.into()),
    };
    if !user.is_active() {
        return Err(ApiError::unauthenticated("account_disabled", "this account is disabled"));
    }
    Ok(Some(user))
}

fn auth_header(req: &HttpRequest) -> Option<String> {
    req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal("application state missing"))
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = auth_header(req);
        let state = state(req);
        Box::pin(async move {
            match authenticate(state?, header).await? {
                Some(user) => Ok(AuthUser(user)),
                None => Err(ApiError::unauthenticated("authentication_required", "sign in first")),
            }
        })
    }
}

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = auth_header(req);
        let state = state(req);
        Box::pin(async move { Ok(MaybeUser(authenticate(state?, header).await?)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use achex_core::{Lang, OrganizationId};

    fn service() -> TokenService {
        TokenService::new(&[7u8; 32], "achex", "achex-api", Duration::minutes(15), Duration::days(30)).unwrap()
    }

    fn user() -> User {
        User {
            id: UserId::new(),
            organization_id: OrganizationId::new(),
            email: "a@b.cn".into(),
            display_name: "A".into(),
            password_hash: String::new(),
            role: Role::EnterpriseMember,
            language: Lang::Zh,
            disabled: false,
            deleted_at: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_token_is_valid_until_its_expiry_plus_leeway() {
        let tokens = service();
        let now = Utc::now();
        let token = tokens.access_token(&user(), now).unwrap();
        assert!(tokens.verify_access(&token, now + Duration::minutes(15)).is_ok());
        let late = now + Duration::minutes(15) + Duration::seconds(LEEWAY_SECS);
        assert!(matches!(
            tokens.verify_access(&token, late),
            Err(ApiError::Unauthenticated { code: "token_expired", .. })
        ));
    }

    #[test]
    fn an_access_lifetime_over_fifteen_minutes_is_refused() {
        assert!(TokenService::new(&[7u8; 32], "i", "a", Duration::minutes(16), Duration::days(1)).is_err());
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(TokenService::new(&[7u8; 31], "i", "a", Duration::minutes(5), Duration::days(1)).is_err());
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hasher = PasswordHasher::new();
        let hash = hasher.hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse battery", &hash));
        assert!(!hasher.verify("correct horse batterz", &hash));
    }
}
