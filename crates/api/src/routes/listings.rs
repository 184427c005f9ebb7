//! Listings: create and edit drafts, move them through review, browse the public catalogue.
//!
//! Who may do what (every rule has a test in `tests/integration/authz.rs`):
//! - anyone sees published listings; a listing in any other status is visible only to its owning
//!   institute's staff and, once submitted, to reviewers — to everyone else it does not exist (404);
//! - only the owning institute's staff edit, submit, withdraw and attach files;
//! - only reviewers and admins approve or reject; admins may also withdraw (takedown).

use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Body;
use crate::state::AppState;
use crate::views::{AttachmentView, AuditEntryView, HistoryView, InstituteRef, ListingPageView, ListingView};
use achex_core::{ListingId, OrganizationId, Role};
use achex_listing::{Action, AuditAction, Listing, ListingContent, ListingKind, ListingPatch, ListingStatus};
use achex_store::{ListingFilter, PublicCursor, User};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub const PAGE_DEFAULT: u64 = 20;
pub const PAGE_MAX: u64 = 100;
pub const REASON_MAX: usize = 2_000;

pub(crate) fn is_owner(user: &User, listing: &Listing) -> bool {
    user.role == Role::InstituteStaff && user.organization_id == listing.institute_id
}

pub(crate) fn can_view(user: Option<&User>, listing: &Listing) -> bool {
    if listing.status.is_public() {
        return true;
    }
    user.is_some_and(|u| is_owner(u, listing) || (u.role.can_review() && listing.status != ListingStatus::Draft))
}

/// Loads a listing the caller may see; a listing they may not see is reported as absent.
pub(crate) async fn visible_listing(state: &AppState, user: Option<&User>, id: ListingId) -> Result<Listing, ApiError> {
    let listing = state.store.listing(id).await?;
    if can_view(user, &listing) { Ok(listing) } else { Err(ApiError::NotFound) }
}

fn require_owner(user: &User, listing: &Listing) -> Result<(), ApiError> {
    if is_owner(user, listing) {
        Ok(())
    } else {
        Err(ApiError::forbidden("not_owner", "only the owning institute may do this"))
    }
}

async fn institute_ref(state: &AppState, id: OrganizationId) -> Result<InstituteRef, ApiError> {
    let org = state.store.organization(id).await?;
    Ok(InstituteRef { id: org.id, name: org.name, verified: org.verified })
}

/// Summary views of many listings, each labelled with its institute (one query for all of them).
async fn summary_views(state: &AppState, listings: Vec<Listing>) -> Result<Vec<ListingView>, ApiError> {
    let mut ids: Vec<_> = listings.iter().map(|l| l.institute_id).collect();
    ids.sort();
    ids.dedup();
    let institutes = state.store.organizations(&ids).await?;
    listings
        .into_iter()
        .map(|listing| {
            let org = institutes.get(&listing.institute_id).ok_or(ApiError::internal("listing without institute"))?;
            let institute = InstituteRef { id: org.id, name: org.name.clone(), verified: org.verified };
            Ok(ListingView::new(listing, institute, None))
        })
        .collect()
}

async fn full_view(state: &AppState, listing: Listing) -> Result<ListingView, ApiError> {
    let institute = institute_ref(state, listing.institute_id).await?;
    let attachments =
        state.store.listing_attachments(listing.id).await?.into_iter().map(AttachmentView::from).collect();
    Ok(ListingView::new(listing, institute, Some(attachments)))
}

fn etag(listing: &Listing) -> String {
    format!("\"v{}\"", listing.version)
}

fn with_etag(status: StatusCode, view: ListingView) -> HttpResponse {
    let tag = format!("\"v{}\"", view.version);
    HttpResponse::build(status).insert_header((header::ETAG, tag)).json(view)
}

/// Refuses the write when the client sent `If-Match` for another version than the stored one.
fn check_if_match(req: &HttpRequest, listing: &Listing) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else { return Ok(()) };
    let value = value.to_str().unwrap_or("");
    if value.trim() == "*" || value.split(',').any(|v| v.trim() == etag(listing)) {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            status: StatusCode::PRECONDITION_FAILED,
            code: "version_mismatch",
            message: format!("the listing is now at version {}; reload it", listing.version),
        })
    }
}

/// Create a draft listing for the signed-in user's institute.
#[utoipa::path(post, path = "/api/v1/listings", tag = "listings", security(("bearer" = [])),
    request_body = ListingContent,
    responses((status = 201, body = ListingView), (status = 403, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    Body(mut content): Body<ListingContent>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::InstituteStaff])?;
    content.validate()?;
    content.normalize();
    let (listing, entry) = Listing::new_draft(user.0.organization_id, user.id(), content, state.clock.now());
    state.store.insert_listing(&listing, &entry).await?;
    let view = full_view(&state, listing).await?;
    Ok(with_etag(StatusCode::CREATED, view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this kind of achievement.
    pub kind: Option<ListingKind>,
    /// Only this institute's listings.
    pub institute: Option<OrganizationId>,
    /// Only this discipline (exact match).
    pub discipline: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn encode_cursor(cursor: PublicCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", cursor.published_at.to_rfc3339(), cursor.id))
}

/// The text inside an opaque cursor (URL-safe base64).
fn cursor_text(cursor: &str) -> Result<String, ApiError> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid_cursor())?;
    String::from_utf8(raw).map_err(|_| invalid_cursor())
}

fn decode_cursor(text: &str) -> Result<PublicCursor, ApiError> {
    let raw = cursor_text(text)?;
    let (at, id) = raw.split_once('|').ok_or_else(invalid_cursor)?;
    Ok(PublicCursor {
        published_at: chrono::DateTime::parse_from_rfc3339(at).map_err(|_| invalid_cursor())?.to_utc(),
        id: id.parse().map_err(|_| invalid_cursor())?,
    })
}

/// The public catalogue: published listings, newest first, with a seek cursor.
#[utoipa::path(get, path = "/api/v1/listings", tag = "listings", params(ListQuery),
    responses((status = 200, body = ListingPageView), (status = 422, body = ErrorEnvelope)))]
pub async fn list(state: web::Data<AppState>, query: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ApiError::validation("limit", "out_of_range", format!("1 to {PAGE_MAX}")));
    }
    if query.discipline.as_ref().is_some_and(|d| d.chars().count() > 100) {
        return Err(ApiError::validation("discipline", "too_long", "at most 100 characters"));
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = ListingFilter { kind: query.kind, institute: query.institute, discipline: query.discipline };
    let page = state.store.published_listings(&filter, after, limit).await?;
    let items = summary_views(&state, page.items).await?;
    Ok(HttpResponse::Ok().json(ListingPageView { items, next_cursor: page.next.map(encode_cursor) }))
}

/// One listing with its attachments. Sends an `ETag` for safe edits.
#[utoipa::path(get, path = "/api/v1/listings/{id}", tag = "listings", params(("id" = ListingId, Path)),
    responses((status = 200, body = ListingView), (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    state: web::Data<AppState>,
    user: MaybeUser,
    id: web::Path<ListingId>,
) -> Result<HttpResponse, ApiError> {
    let listing = visible_listing(&state, user.0.as_ref(), id.into_inner()).await?;
    Ok(with_etag(StatusCode::OK, full_view(&state, listing).await?))
}

/// Edit a draft (or revise a rejected listing, which returns it to draft). Only the fields sent
/// change; `If-Match` with the listing's ETag guards against overwriting someone else's edit.
#[utoipa::path(patch, path = "/api/v1/listings/{id}", tag = "listings", security(("bearer" = [])),
    params(("id" = ListingId, Path)), request_body = ListingPatch,
    responses((status = 200, body = ListingView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "listing_not_editable"), (status = 412, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<ListingId>,
    Body(patch): Body<ListingPatch>,
) -> Result<HttpResponse, ApiError> {
    let mut listing = visible_listing(&state, Some(&user.0), id.into_inner()).await?;
    require_owner(&user.0, &listing)?;
    check_if_match(&req, &listing)?;
    if patch.is_empty() {
        return Err(ApiError::validation("body", "empty_patch", "send at least one field to change"));
    }
    let read_version = listing.version;
    let (mut content, changed) = patch.apply_to(&listing.content);
    content.validate()?;
    content.normalize();
    let mut entry = listing.apply(Action::Edit, user.id(), None, state.clock.now())?;
    entry.changed_fields = changed.into_iter().map(str::to_owned).collect();
    listing.content = content;
    state.store.update_listing(&listing, read_version, &entry).await?;
    Ok(with_etag(StatusCode::OK, full_view(&state, listing).await?))
}

/// Applies a lifecycle action and stores the listing with its audit entry.
async fn transition(
    state: &AppState,
    listing: &mut Listing,
    action: Action,
    actor: &User,
    reason: Option<String>,
) -> Result<(), ApiError> {
    let read_version = listing.version;
    let entry = listing.apply(action, actor.id, reason, state.clock.now())?;
    state.store.update_listing(listing, read_version, &entry).await?;
    if matches!(action, Action::Approve | Action::Withdraw) {
        let published = state.store.count_listings(ListingStatus::Published).await?;
        state.metrics.published_listings.set(published as i64);
    }
    Ok(())
}

fn screening(listing: &Listing) -> Result<(), ApiError> {
    let issues = listing.content.screening_issues();
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Conflict {
            code: "screening_failed",
            message: "the listing does not pass screening".into(),
            details: Some(serde_json::json!({ "fields": issues })),
        })
    }
}

/// Submit a draft for review.
#[utoipa::path(post, path = "/api/v1/listings/{id}/submit", tag = "listings", security(("bearer" = [])),
    params(("id" = ListingId, Path)),
    responses((status = 200, body = ListingView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "listing_not_draft or screening_failed")))]
pub async fn submit(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ListingId>,
) -> Result<HttpResponse, ApiError> {
    let mut listing = visible_listing(&state, Some(&user.0), id.into_inner()).await?;
    require_owner(&user.0, &listing)?;
    listing.status.apply(Action::Submit)?;
    screening(&listing)?;
    transition(&state, &mut listing, Action::Submit, &user.0, None).await?;
    Ok(with_etag(StatusCode::OK, full_view(&state, listing).await?))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub decision: Decision,
    /// Required when rejecting; shown to the institute.
    #[serde(default)]
    pub reason: Option<String>,
}

fn clean_reason(reason: Option<String>, required: bool) -> Result<Option<String>, ApiError> {
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    match &reason {
        None if required => Err(ApiError::validation("reason", "required", "say why, so the institute can fix it")),
        Some(r) if r.chars().count() > REASON_MAX => {
            Err(ApiError::validation("reason", "too_long", format!("at most {REASON_MAX} characters")))
        }
        _ => Ok(reason),
    }
}

/// Approve (publish) or reject a listing in review.
#[utoipa::path(post, path = "/api/v1/listings/{id}/review", tag = "listings", security(("bearer" = [])),
    params(("id" = ListingId, Path)), request_body = ReviewRequest,
    responses((status = 200, body = ListingView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "listing_not_in_review, institute_not_verified or screening_failed"),
              (status = 422, body = ErrorEnvelope)))]
pub async fn review(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ListingId>,
    Body(req): Body<ReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut listing = visible_listing(&state, Some(&user.0), id.into_inner()).await?;
    user.require_role(&[Role::Reviewer, Role::Admin])?;
    let action = match req.decision {
        Decision::Approve => Action::Approve,
        Decision::Reject => Action::Reject,
    };
    let reason = clean_reason(req.reason, action == Action::Reject)?;
    listing.status.apply(action)?;
    if action == Action::Approve {
        let institute = state.store.organization(listing.institute_id).await?;
        if !institute.verified {
            return Err(ApiError::conflict(
                "institute_not_verified",
                "verify the owning institute before publishing its listings",
            ));
        }
        screening(&listing)?;
    }
    transition(&state, &mut listing, action, &user.0, reason).await?;
    Ok(with_etag(StatusCode::OK, full_view(&state, listing).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Take a published listing off the catalogue (owning institute, or an admin as a takedown).
#[utoipa::path(post, path = "/api/v1/listings/{id}/withdraw", tag = "listings", security(("bearer" = [])),
    params(("id" = ListingId, Path)), request_body(content = Option<WithdrawRequest>),
    responses((status = 200, body = ListingView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "listing_not_published")))]
pub async fn withdraw(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ListingId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let req: WithdrawRequest = if body.iter().all(u8::is_ascii_whitespace) {
        WithdrawRequest::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let mut listing = visible_listing(&state, Some(&user.0), id.into_inner()).await?;
    if user.role() != Role::Admin {
        require_owner(&user.0, &listing)?;
    }
    let reason = clean_reason(req.reason, false)?;
    transition(&state, &mut listing, Action::Withdraw, &user.0, reason).await?;
    Ok(with_etag(StatusCode::OK, full_view(&state, listing).await?))
}

/// The audit trail: who changed what, when (owning institute and reviewers).
#[utoipa::path(get, path = "/api/v1/listings/{id}/history", tag = "listings", security(("bearer" = [])),
    params(("id" = ListingId, Path)),
    responses((status = 200, body = HistoryView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ListingId>,
) -> Result<HttpResponse, ApiError> {
    let listing = visible_listing(&state, Some(&user.0), id.into_inner()).await?;
    if !is_owner(&user.0, &listing) && !user.role().can_review() {
        return Err(ApiError::forbidden("not_owner", "only the owning institute and reviewers see the history"));
    }
    let entries = state.store.listing_history(listing.id).await?.into_iter().map(AuditEntryView::from).collect();
    Ok(HttpResponse::Ok().json(HistoryView { listing_id: listing.id, entries }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OwnPageQuery {
    /// 1 to 100, default 20.
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl OwnPageQuery {
    fn limit(&self) -> Result<u64, ApiError> {
        let limit = self.limit.unwrap_or(PAGE_DEFAULT);
        if !(1..=PAGE_MAX).contains(&limit) {
            return Err(ApiError::validation("limit", "out_of_range", format!("1 to {PAGE_MAX}")));
        }
        Ok(limit)
    }
}

fn invalid_cursor() -> ApiError {
    ApiError::validation("cursor", "invalid_cursor", "use next_cursor from a previous page")
}

/// The signed-in user's institute's listings in any status, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/me/listings", tag = "listings", security(("bearer" = [])), params(OwnPageQuery),
    responses((status = 200, body = ListingPageView), (status = 403, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
pub async fn mine(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<OwnPageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::InstituteStaff])?;
    let limit = query.limit()?;
    let after = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(cursor_text(text)?.parse::<ListingId>().map_err(|_| invalid_cursor())?),
    };
    let (listings, more) = state.store.institute_listings(user.0.organization_id, after, limit).await?;
    let next_cursor = listings.last().filter(|_| more).map(|l| URL_SAFE_NO_PAD.encode(l.id.to_string()));
    let items = summary_views(&state, listings).await?;
    Ok(HttpResponse::Ok().json(ListingPageView { items, next_cursor }))
}

/// Listings waiting for review, longest waiting first, a page at a time (reviewers and admins).
#[utoipa::path(get, path = "/api/v1/review-queue", tag = "listings", security(("bearer" = [])), params(OwnPageQuery),
    responses((status = 200, body = ListingPageView), (status = 403, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
pub async fn review_queue(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<OwnPageQuery>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Reviewer, Role::Admin])?;
    let limit = query.limit()?;
    // The same shape as the public feed's cursor: a time and an id.
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?.map(|c| (c.published_at, c.id));
    let (listings, more) = state.store.review_queue(after, limit).await?;
    let next_cursor =
        listings.last().filter(|_| more).map(|l| encode_cursor(PublicCursor { published_at: l.updated_at, id: l.id }));
    let items = summary_views(&state, listings).await?;
    Ok(HttpResponse::Ok().json(ListingPageView { items, next_cursor }))
}

pub(crate) fn audit_attachment(
    listing: &Listing,
    actor: &User,
    file_name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> achex_listing::AuditEntry {
    achex_listing::AuditEntry {
        listing_id: listing.id,
        actor_id: Some(actor.id),
        action: AuditAction::AttachmentAdded,
        from_status: Some(listing.status),
        to_status: listing.status,
        changed_fields: vec![format!("attachments:{file_name}")],
        reason: None,
        at: now,
    }
}
