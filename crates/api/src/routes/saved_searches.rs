//! Saved searches: a signed-in user keeps a query with its filters and chooses how often to hear
//! about new matches. Each user sees and deletes only their own; anyone else's is a 404.

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Body;
use crate::routes::search::SearchParams;
use crate::state::AppState;
use achex_core::SavedSearchId;
use achex_listing::ValidationErrors;
use achex_store::{SavedSearch, StoreError};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How many saved searches one user may keep.
pub const MAX_SAVED_SEARCHES: u64 = 50;
const NAME_MAX: usize = 100;

/// How often new matches are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertFrequency {
    /// Never: the search is only a bookmark.
    Off,
    /// As soon as a matching listing is published or changed.
    Immediate,
    /// One digest a day with everything new.
    Daily,
}

impl AlertFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertFrequency::Off => "off",
            AlertFrequency::Immediate => "immediate",
            AlertFrequency::Daily => "daily",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(AlertFrequency::Off),
            "immediate" => Some(AlertFrequency::Immediate),
            "daily" => Some(AlertFrequency::Daily),
            _ => None,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedSearch {
    /// A label for the user's list, 1 to 100 characters.
    pub name: String,
    /// The search, with the same fields as `GET /api/v1/search` (`page` and `per_page` are ignored).
    #[serde(default)]
    pub query: SearchParams,
    #[serde(default = "default_alert")]
    pub alert: AlertFrequency,
}

fn default_alert() -> AlertFrequency {
    AlertFrequency::Daily
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedSearchView {
    pub id: SavedSearchId,
    pub name: String,
    pub query: SearchParams,
    pub alert: AlertFrequency,
    pub created_at: DateTime<Utc>,
    pub last_alerted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedSearchList {
    pub items: Vec<SavedSearchView>,
}

fn view(saved: SavedSearch) -> Result<SavedSearchView, ApiError> {
    Ok(SavedSearchView {
        id: saved.id,
        name: saved.name,
        query: serde_json::from_value(saved.query).map_err(ApiError::internal)?,
        alert: AlertFrequency::parse(&saved.alert).ok_or_else(|| ApiError::internal("unknown alert frequency"))?,
        created_at: saved.created_at,
        last_alerted_at: saved.last_alerted_at,
    })
}

/// Save a search (query, filters, sort) with an alert frequency.
#[utoipa::path(post, path = "/api/v1/saved-searches", tag = "search", security(("bearer" = [])),
    request_body = NewSavedSearch,
    responses((status = 201, body = SavedSearchView), (status = 401, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "too_many_saved_searches, duplicate_saved_search"),
              (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    Body(new): Body<NewSavedSearch>,
) -> Result<HttpResponse, ApiError> {
    let mut query = new.query;
    // Paging belongs to a results page, not to what is saved.
    query.page = None;
    query.per_page = None;
    let mut errors = match query.to_query() {
        Ok(_) => ValidationErrors::default(),
        Err(mut e) => {
            for error in &mut e.errors {
                error.field = format!("query.{}", error.field);
            }
            e
        }
    };
    let name = new.name.trim().to_owned();
    if name.is_empty() {
        errors.add("name", "required", "give the search a name");
    } else if name.chars().count() > NAME_MAX {
        errors.add("name", "too_long", format!("at most {NAME_MAX} characters"));
    }
    errors.into_result()?;
    let query_json = serde_json::to_value(&query).map_err(ApiError::internal)?;
    if state.store.saved_searches(user.0.id).await?.iter().any(|s| s.query == query_json) {
        return Err(ApiError::conflict(
            "duplicate_saved_search",
            "you already saved this search; change its alert frequency by deleting and saving it again",
        ));
    }
    let saved = SavedSearch {
        id: SavedSearchId::new(),
        user_id: user.0.id,
        name,
        query: query_json,
        alert: new.alert.as_str().to_owned(),
        created_at: state.clock.now(),
        last_alerted_at: None,
    };
    match state.store.insert_saved_search(&saved, MAX_SAVED_SEARCHES).await {
        Ok(()) => Ok(HttpResponse::Created().json(view(saved)?)),
        Err(StoreError::Duplicate("saved_search_limit")) => Err(ApiError::conflict(
            "too_many_saved_searches",
            format!("at most {MAX_SAVED_SEARCHES} saved searches; delete one first"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The caller's saved searches, newest first.
#[utoipa::path(get, path = "/api/v1/saved-searches", tag = "search", security(("bearer" = [])),
    responses((status = 200, body = SavedSearchList), (status = 401, body = ErrorEnvelope)))]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let items = state.store.saved_searches(user.0.id).await?.into_iter().map(view).collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(SavedSearchList { items }))
}

/// One of the caller's saved searches.
#[utoipa::path(get, path = "/api/v1/saved-searches/{id}", tag = "search", security(("bearer" = [])),
    params(("id" = SavedSearchId, Path)),
    responses((status = 200, body = SavedSearchView), (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<SavedSearchId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(state.store.saved_search(user.0.id, id.into_inner()).await?)?))
}

/// Delete one of the caller's saved searches (and its alerts).
#[utoipa::path(delete, path = "/api/v1/saved-searches/{id}", tag = "search", security(("bearer" = [])),
    params(("id" = SavedSearchId, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)))]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<SavedSearchId>,
) -> Result<HttpResponse, ApiError> {
    state.store.delete_saved_search(user.0.id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
