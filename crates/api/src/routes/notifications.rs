//! The inbox, notification preferences, and the administrators' view of e-mails that gave up.
//! Every user sees only their own notifications: someone else's id is a 404, never a 403.

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Body;
use crate::state::AppState;
use achex_core::{Lang, NotificationId, Role, UserId};
use achex_listing::ValidationErrors;
use achex_notification::{NotificationPayload, Preferences, PreferencesInput, render};
use achex_store::{InboxCursor, RecipientAccount, StoredNotification};
use actix_web::{HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

/// One notification as the inbox and the live channel show it, in the reader's language.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: NotificationId,
    /// e.g. `outbid`, `auction_won`, `listing_approved`, `saved_search_match`.
    pub kind: String,
    /// One line in the reader's language.
    pub title: String,
    /// The message as plain text (paragraphs, facts, listed items), without the e-mail's frame.
    pub body: String,
    /// Where it leads in the web client (relative).
    pub link: String,
    /// The facts behind the message (amounts in minor units, ids), tagged by `kind`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// Renders a stored notification for a reader of `lang`.
pub fn notification_view(stored: StoredNotification, lang: Lang) -> NotificationView {
    let (title, body, link) = match serde_json::from_value::<NotificationPayload>(stored.payload.clone()) {
        Ok(payload) => {
            let rendered = render(&payload, lang, "");
            (rendered.title, rendered.summary, rendered.link)
        }
        // A kind this version cannot word (written by a newer node): still listed, never lost.
        Err(_) => (stored.kind.clone(), String::new(), String::from("/")),
    };
    NotificationView {
        id: stored.id,
        kind: stored.kind,
        title,
        body,
        link,
        data: stored.payload,
        created_at: stored.created_at,
        read_at: stored.read_at,
    }
}

/// The message the live channel sends for a new notification.
pub fn live_message(view: &NotificationView, now: DateTime<Utc>) -> String {
    serde_json::json!({ "type": "notification", "topic": "user", "notification": view, "server_time": now }).to_string()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// `true` (or `1`): only unread notifications.
    pub unread: Option<String>,
    /// Language of titles and bodies, `zh` or `en`; default the user's profile language.
    pub lang: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    pub items: Vec<NotificationView>,
    /// Unread notifications in the whole inbox.
    pub unread_count: u64,
    pub next_cursor: Option<String>,
}

fn encode_cursor(cursor: InboxCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", cursor.created_at.to_rfc3339(), cursor.id))
}

fn decode_cursor(text: &str) -> Result<InboxCursor, ApiError> {
    let invalid = || ApiError::validation("cursor", "invalid_cursor", "use next_cursor from a previous page");
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let (at, id) = raw.split_once('|').ok_or_else(invalid)?;
    Ok(InboxCursor {
        created_at: DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?.to_utc(),
        id: id.parse().map_err(|_| invalid())?,
    })
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(InboxQuery),
    responses((status = 200, body = InboxPage), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn inbox(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "out_of_range", "1 to 100"));
    }
    let unread = match query.unread.as_deref() {
        None | Some("false" | "0" | "") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(ApiError::validation("unread", "invalid_value", "true or false")),
    };
    let lang = reader_language(query.lang.as_deref(), user.0.language)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let (items, next) = state.store.inbox(user.0.id, unread, after, limit).await?;
    let unread_count = state.store.unread_count(user.0.id).await?;
    Ok(HttpResponse::Ok().json(InboxPage {
        items: items.into_iter().map(|n| notification_view(n, lang)).collect(),
        unread_count,
        next_cursor: next.map(encode_cursor),
    }))
}

fn reader_language(asked: Option<&str>, profile: Lang) -> Result<Lang, ApiError> {
    match asked {
        None | Some("") => Ok(profile),
        Some("zh") => Ok(Lang::Zh),
        Some("en") => Ok(Lang::En),
        Some(_) => Err(ApiError::validation("lang", "invalid_value", "zh or en")),
    }
}

/// Mark one notification read (again is fine).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = NotificationId, Path)),
    responses((status = 200, body = NotificationView), (status = 404, body = ErrorEnvelope)))]
pub async fn read(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<NotificationId>,
) -> Result<HttpResponse, ApiError> {
    let stored = state.store.mark_notification_read(user.0.id, id.into_inner(), state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(notification_view(stored, user.0.language)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAll {
    /// How many were unread.
    pub updated: u64,
    pub unread_count: u64,
}

/// Mark every notification read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = ReadAll), (status = 401, body = ErrorEnvelope)))]
pub async fn read_all(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let updated = state.store.mark_all_notifications_read(user.0.id, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(ReadAll { updated, unread_count: 0 }))
}

/// A user's preferences: stored, or the defaults (everything on).
pub async fn preferences_of(state: &AppState, user: UserId) -> Result<Preferences, ApiError> {
    preferences_from(state.store.notification_preferences(user).await?)
}

/// The accounts of many users at once and their preferences (the defaults where none are stored);
/// users that do not exist are left out. One query.
pub async fn recipients_of_many(
    state: &AppState,
    users: &[UserId],
) -> Result<(HashMap<UserId, RecipientAccount>, HashMap<UserId, Preferences>), ApiError> {
    let found = state.store.recipients(users).await?;
    let mut accounts = HashMap::with_capacity(found.len());
    let mut preferences = HashMap::with_capacity(found.len());
    for mut recipient in found {
        preferences.insert(recipient.id, preferences_from(recipient.preferences.take())?);
        accounts.insert(recipient.id, recipient);
    }
    Ok((accounts, preferences))
}

/// Stored preferences (as written by `PUT /notification-preferences`), or the defaults.
fn preferences_from(stored: Option<serde_json::Value>) -> Result<Preferences, ApiError> {
    match stored {
        None => Ok(Preferences::default()),
        Some(value) => match serde_json::from_value::<PreferencesInput>(value) {
            Ok(input) => Preferences::try_from(input).map_err(ApiError::internal),
            Err(e) => Err(ApiError::internal(e)),
        },
    }
}

/// The caller's notification preferences: for every kind, whether it goes by `email` and `live`
/// (the inbox always gets it).
#[utoipa::path(get, path = "/api/v1/notification-preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = ErrorEnvelope)))]
pub async fn get_preferences(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(preferences_of(&state, user.0.id).await?))
}

/// Change notification preferences. Only the kinds and switches sent change, e.g.
/// `{"outbid": {"email": false}}`.
#[utoipa::path(put, path = "/api/v1/notification-preferences", tag = "notifications", security(("bearer" = [])),
    request_body = Object,
    responses((status = 200, body = Object), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn put_preferences(
    state: web::Data<AppState>,
    user: AuthUser,
    Body(input): Body<PreferencesInput>,
) -> Result<HttpResponse, ApiError> {
    let mut preferences = preferences_of(&state, user.0.id).await?;
    if let Err(e) = preferences.apply(input) {
        let field = match &e {
            achex_notification::PreferencesError::UnknownKind(unknown) => unknown.given.clone(),
            achex_notification::PreferencesError::InboxAlwaysOn { kind } => format!("{}.inbox", kind.as_str()),
        };
        return Err(ApiError::Validation(ValidationErrors::single(field, "invalid_value", e.to_string())));
    }
    let value = serde_json::to_value(&preferences).map_err(ApiError::internal)?;
    state.store.set_notification_preferences(user.0.id, value, state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(preferences))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedView {
    pub notification_id: NotificationId,
    pub user_id: UserId,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedList {
    pub items: Vec<ParkedView>,
}

/// E-mails that failed every attempt (administrators).
#[utoipa::path(get, path = "/api/v1/admin/notifications/parked", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ParkedList), (status = 403, body = ErrorEnvelope)))]
pub async fn parked(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Admin])?;
    let items = state
        .store
        .parked_emails(200)
        .await?
        .into_iter()
        .map(|p| ParkedView {
            notification_id: p.notification_id,
            user_id: p.user_id,
            kind: p.kind,
            attempts: p.attempts,
            last_error: p.last_error,
            created_at: p.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ParkedList { items }))
}

/// Queue a parked e-mail again (administrators), after fixing what made it fail.
#[utoipa::path(post, path = "/api/v1/admin/notifications/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = NotificationId, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn retry(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<NotificationId>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Admin])?;
    state.store.retry_parked_email(id.into_inner(), state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
