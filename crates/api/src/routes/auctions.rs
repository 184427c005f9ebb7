//! Competitive bidding over HTTP. The rules are the machine's (`achex-bidding-engine`); this module
//! authenticates, authorizes, turns bodies into commands and answers into responses.
//!
//! Who may do what:
//! - the owning institute's staff put a published listing up for auction;
//! - enterprise members register (their organisation bids through them) and bid;
//! - organizers and admins confirm deposits; admins cancel and record a default;
//! - anyone reads an auction's public state, its bid history (by bidder code) and its result.

use crate::auth::{AuthUser, MaybeUser};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Body;
use crate::routes::listings::is_owner;
use crate::state::AppState;
use achex_bidding_engine::engine::{Answer, EngineError, Idempotency, LogEntry, LotRecord, Request};
use achex_bidding_engine::{
    Auction, AuctionConfig, Command, DutchSchedule, EventKind, Format, Increment, IncrementTier, Outcome, PublicState,
    Rejection, SoftClose, Status,
};
use achex_core::{AuctionId, ListingId, Money, Role};
use achex_listing::ListingStatus;
use achex_store::AuctionPhase;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// A leader- or price-changing bid within this many seconds of the end extends it…
    pub window_secs: i64,
    /// …to the bid's time plus this many seconds.
    pub extend_secs: i64,
    #[serde(default)]
    pub max_extensions: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    pub from_price: Money,
    pub increment: Money,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DutchBody {
    pub step: Money,
    pub interval_secs: i64,
    pub floor: Money,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FormatBody {
    English,
    TwoPhase,
    SealedFirstPrice,
    SealedSecondPrice,
    Dutch,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuctionRequest {
    pub format: FormatBody,
    pub starting_price: Money,
    /// A fixed increment (English and two-phase)…
    #[serde(default)]
    pub increment: Option<Money>,
    /// …or a table by current price.
    #[serde(default)]
    pub increment_table: Option<Vec<TierBody>>,
    /// Hidden from everyone but the seller.
    #[serde(default)]
    pub reserve_price: Option<Money>,
    /// Each bidder's deposit.
    pub deposit: Money,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Two-phase: end of the free-quote period.
    #[serde(default)]
    pub free_quote_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub extension: Option<ExtensionBody>,
    #[serde(default)]
    pub dutch: Option<DutchBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuctionView {
    pub id: AuctionId,
    pub listing_id: ListingId,
    #[schema(value_type = Object)]
    pub state: PublicState,
    /// The server's clock when this was answered: countdowns use it, never the client's clock.
    pub server_time: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuctionListView {
    pub items: Vec<AuctionView>,
}

fn format_of(body: FormatBody) -> Format {
    match body {
        FormatBody::English => Format::English,
        FormatBody::TwoPhase => Format::TwoPhase,
        FormatBody::SealedFirstPrice => Format::SealedFirstPrice,
        FormatBody::SealedSecondPrice => Format::SealedSecondPrice,
        FormatBody::Dutch => Format::Dutch,
    }
}

pub(crate) fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::NotFound => ApiError::NotFound,
        EngineError::IdempotencyMismatch => ApiError::validation(
            "Idempotency-Key",
            "idempotency_key_reused",
            "this key was already used for a different request",
        ),
        // Nothing was accepted; the client may retry with the same key.
        EngineError::Unavailable(reason) => {
            tracing::warn!(%reason, "auction unavailable");
            ApiError::BadRequest {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "auction_unavailable",
                message: "the auction is briefly unavailable; retry with the same Idempotency-Key".into(),
            }
        }
    }
}

/// Rejections that mean "this amount is malformed" are 422; the rest depend on the lot's state
/// and are 409.
pub(crate) fn rejection_error(rejection: &Rejection) -> ApiError {
    let status = match rejection {
        Rejection::BidBelowMinimum { .. }
        | Rejection::NotAMultipleOfIncrement { .. }
        | Rejection::MaxBelowAmount
        | Rejection::CurrencyMismatch { .. }
        | Rejection::AmountOutOfRange
        | Rejection::ProxyNotSupported
        | Rejection::ReasonRequired => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CONFLICT,
    };
    ApiError::Rejected { status, code: rejection.code(), message: rejection.to_string() }
}

fn view(id: AuctionId, listing_id: ListingId, state: PublicState, now: DateTime<Utc>) -> AuctionView {
    AuctionView { id, listing_id, state, server_time: now }
}

/// Put a published listing up for auction (owning institute).
#[utoipa::path(post, path = "/api/v1/listings/{id}/auctions", tag = "auctions", security(("bearer" = [])),
    params(("id" = ListingId, Path)), request_body = CreateAuctionRequest,
    responses((status = 201, body = AuctionView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "listing_not_published or auction_already_open"),
              (status = 422, body = ErrorEnvelope)))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<ListingId>,
    Body(body): Body<CreateAuctionRequest>,
) -> Result<HttpResponse, ApiError> {
    let listing = crate::routes::listings::visible_listing(&state, Some(&user.0), id.into_inner()).await?;
    if !is_owner(&user.0, &listing) {
        return Err(ApiError::forbidden("not_owner", "only the owning institute may auction its listing"));
    }
    if listing.status != ListingStatus::Published {
        return Err(ApiError::conflict("listing_not_published", "only a published listing can be auctioned"));
    }
    let now = state.clock.now();
    if body.ends_at <= now {
        return Err(ApiError::validation("ends_at", "in_the_past", "the end must be in the future"));
    }
    let existing = state.store.listing_auctions(listing.id).await?;
    if existing.iter().any(|a| a.summary.outcome.is_none()) {
        return Err(ApiError::conflict(
            "auction_already_open",
            "this listing already has an auction that has not closed",
        ));
    }
    let increment = match (body.increment, body.increment_table) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation("increment_table", "inconsistent", "give increment or increment_table"));
        }
        (Some(step), None) => Some(Increment::Fixed(step)),
        (None, Some(table)) => Some(Increment::Tiered(
            table.into_iter().map(|t| IncrementTier { from_price: t.from_price, increment: t.increment }).collect(),
        )),
        (None, None) => None,
    };
    let config = AuctionConfig {
        format: format_of(body.format),
        seller: listing.institute_id,
        starting_price: body.starting_price,
        increment,
        reserve_price: body.reserve_price,
        deposit: body.deposit,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        free_quote_until: body.free_quote_until,
        extension: body.extension.map(|e| SoftClose {
            window_secs: e.window_secs,
            extend_secs: e.extend_secs,
            max_extensions: e.max_extensions,
        }),
        dutch: body.dutch.map(|d| DutchSchedule { step: d.step, interval_secs: d.interval_secs, floor: d.floor }),
    };
    let auction = Auction::new(config.clone()).map_err(|errors| {
        let mut out = achex_listing::ValidationErrors::default();
        for e in errors.errors {
            out.add(e.field, e.code, e.message);
        }
        ApiError::Validation(out)
    })?;
    let record = LotRecord { auction: AuctionId::new(), listing: listing.id, config };
    let initial = auction.public_view_at(now);
    state.store.create_auction(&record, user.id(), &initial, now).await?;
    Ok(HttpResponse::Created().json(view(record.auction, listing.id, initial, now)))
}

/// An auction's public state: never the reserve or anyone's maximum.
#[utoipa::path(get, path = "/api/v1/auctions/{id}", tag = "auctions", params(("id" = AuctionId, Path)),
    responses((status = 200, body = AuctionView), (status = 404, body = ErrorEnvelope)))]
pub async fn get(state: web::Data<AppState>, id: web::Path<AuctionId>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state.store.auction(id).await?;
    let public = state.engine.state(id).await.map_err(engine_error)?;
    Ok(HttpResponse::Ok().json(view(id, row.listing_id, public, state.clock.now())))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseQuery {
    Live,
    Upcoming,
    Closed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuctionListQuery {
    /// `live` (default), `upcoming` or `closed`.
    pub status: Option<PhaseQuery>,
    /// 1 to 100, default 50.
    pub limit: Option<u64>,
}

/// Auctions by phase, judged by the server's clock.
#[utoipa::path(get, path = "/api/v1/auctions", tag = "auctions", params(AuctionListQuery),
    responses((status = 200, body = AuctionListView), (status = 422, body = ErrorEnvelope)))]
pub async fn list(state: web::Data<AppState>, query: web::Query<AuctionListQuery>) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "out_of_range", "1 to 100"));
    }
    let phase = match query.status.unwrap_or(PhaseQuery::Live) {
        PhaseQuery::Live => AuctionPhase::Live,
        PhaseQuery::Upcoming => AuctionPhase::Upcoming,
        PhaseQuery::Closed => AuctionPhase::Closed,
    };
    let now = state.clock.now();
    let rows = state.store.auctions_in_phase(phase, now, limit).await?;
    let items = rows.into_iter().map(|r| view(r.id, r.listing_id, r.summary, now)).collect();
    Ok(HttpResponse::Ok().json(AuctionListView { items }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    /// Use it in `/registrations/{rid}/confirm-deposit`.
    pub registration_id: String,
    /// How this bidder appears to everyone else.
    pub bidder_code: String,
    pub deposit: Money,
    #[schema(value_type = String)]
    pub deposit_status: achex_bidding_engine::DepositState,
}

impl RegistrationView {
    fn of(bidder: &achex_bidding_engine::Bidder, deposit: Money) -> Self {
        RegistrationView {
            registration_id: bidder.code().to_string(),
            bidder_code: bidder.code().to_string(),
            deposit,
            deposit_status: bidder.deposit(),
        }
    }
}

async fn submit(
    state: &AppState,
    auction: AuctionId,
    request: Request,
) -> Result<achex_bidding_engine::engine::Accepted, ApiError> {
    match state.engine.submit(auction, request).await.map_err(engine_error)? {
        Answer::Accepted(accepted) => Ok(accepted),
        Answer::Rejected(rejection) => Err(rejection_error(&rejection)),
    }
}

/// Register for an auction (enterprise members); the deposit must then be confirmed.
#[utoipa::path(post, path = "/api/v1/auctions/{id}/registrations", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path)),
    responses((status = 201, body = RegistrationView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope)))]
pub async fn register(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::EnterpriseMember])?;
    let id = id.into_inner();
    let command = Command::Register { bidder: user.id(), organization: user.0.organization_id };
    submit(&state, id, Request::new(command)).await?;
    let bidder = state.engine.bidder(id, user.id()).await.map_err(engine_error)?.ok_or(ApiError::NotFound)?;
    let row = state.store.auction(id).await?;
    Ok(HttpResponse::Created().json(RegistrationView::of(&bidder, row.config.deposit)))
}

/// Confirm a bidder's deposit has arrived (organizers and admins).
#[utoipa::path(post, path = "/api/v1/auctions/{id}/registrations/{rid}/confirm-deposit", tag = "auctions",
    security(("bearer" = [])), params(("id" = AuctionId, Path), ("rid" = String, Path)),
    responses((status = 200, body = RegistrationView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope)))]
pub async fn confirm_deposit(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(AuctionId, String)>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Organizer, Role::Admin])?;
    let (id, rid) = path.into_inner();
    let bidders = state.engine.bidders(id).await.map_err(engine_error)?;
    let bidder = bidders.iter().find(|b| b.code().as_str() == rid).ok_or(ApiError::NotFound)?;
    submit(&state, id, Request::new(Command::ConfirmDeposit { bidder: bidder.user() })).await?;
    let bidder = state.engine.bidder(id, bidder.user()).await.map_err(engine_error)?.ok_or(ApiError::NotFound)?;
    let row = state.store.auction(id).await?;
    Ok(HttpResponse::Ok().json(RegistrationView::of(&bidder, row.config.deposit)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationListView {
    pub items: Vec<RegistrantView>,
}

/// A registered bidder as the organizer sees it: who it is, to match the deposit that arrives.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrantView {
    pub registration_id: String,
    pub bidder_code: String,
    pub organization: crate::views::InstituteRef,
    pub deposit: Money,
    #[schema(value_type = String)]
    pub deposit_status: achex_bidding_engine::DepositState,
}

/// Everyone registered for a lot, in order of registration, with the organisation behind each
/// anonymous code (organizers and admins: they confirm the deposits).
#[utoipa::path(get, path = "/api/v1/auctions/{id}/registrations", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path)),
    responses((status = 200, body = RegistrationListView), (status = 401, body = ErrorEnvelope),
              (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn registrations(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Organizer, Role::Admin])?;
    let id = id.into_inner();
    let row = state.store.auction(id).await?;
    let bidders = state.engine.bidders(id).await.map_err(engine_error)?;
    let mut orgs: Vec<_> = bidders.iter().map(|b| b.organization()).collect();
    orgs.sort();
    orgs.dedup();
    let names = state.store.organizations(&orgs).await?;
    let items = bidders
        .iter()
        .filter_map(|b| {
            let org = names.get(&b.organization())?;
            Some(RegistrantView {
                registration_id: b.code().to_string(),
                bidder_code: b.code().to_string(),
                organization: crate::views::InstituteRef { id: org.id, name: org.name.clone(), verified: org.verified },
                deposit: row.config.deposit,
                deposit_status: b.deposit(),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(RegistrationListView { items }))
}

/// The signed-in enterprise member's own registration for a lot: its bidder code and whether its
/// deposit is confirmed (what a bidding page shows before letting it bid).
#[utoipa::path(get, path = "/api/v1/auctions/{id}/registrations/me", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path)),
    responses((status = 200, body = RegistrationView), (status = 401, body = ErrorEnvelope),
              (status = 404, body = ErrorEnvelope, description = "no such lot, or not registered for it")))]
pub async fn my_registration(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state.store.auction(id).await?;
    let bidder = state.engine.bidder(id, user.id()).await.map_err(engine_error)?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(RegistrationView::of(&bidder, row.config.deposit)))
}

/// The lots of a listing, newest first, each with its public state (what the listing's page
/// shows: the open lot, or how the last one ended). The listing must be visible to the caller.
#[utoipa::path(get, path = "/api/v1/listings/{id}/auctions", tag = "auctions", params(("id" = ListingId, Path)),
    responses((status = 200, body = AuctionListView), (status = 404, body = ErrorEnvelope)))]
pub async fn of_listing(
    state: web::Data<AppState>,
    user: MaybeUser,
    id: web::Path<ListingId>,
) -> Result<HttpResponse, ApiError> {
    let listing = crate::routes::listings::visible_listing(&state, user.0.as_ref(), id.into_inner()).await?;
    let now = state.clock.now();
    let mut items = Vec::new();
    for row in state.store.listing_auctions(listing.id).await? {
        // The engine has open lots' current state; a closed lot's stored summary is final.
        let public = if row.summary.status == Status::Closed {
            row.summary
        } else {
            state.engine.state(row.id).await.map_err(engine_error)?
        };
        items.push(view(row.id, row.listing_id, public, now));
    }
    Ok(HttpResponse::Ok().json(AuctionListView { items }))
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidRequest {
    pub amount: Money,
    /// A proxy maximum: the engine bids for you up to it.
    #[serde(default)]
    pub max_amount: Option<Money>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidAcceptedView {
    /// The per-lot sequence number of this bid's event.
    pub seq: u64,
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<achex_bidding_engine::Event>,
    #[schema(value_type = Object)]
    pub state: PublicState,
    pub server_time: DateTime<Utc>,
}

/// What an idempotent retry is compared by: who asked for what.
pub(crate) fn fingerprint(user: &achex_store::User, auction: AuctionId, bid: &BidRequest) -> String {
    let body = serde_json::to_vec(&(user.id, auction, bid)).expect("bids serialize");
    hex::encode(Sha256::digest(body))
}

pub(crate) fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("Idempotency-Key") else { return Ok(None) };
    let key = value.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation("Idempotency-Key", "invalid_format", "1 to 200 visible ASCII characters"));
    }
    Ok(Some(key.to_owned()))
}

/// Places a bid for `user` and returns the engine's answer (shared by HTTP and the websocket).
pub(crate) async fn place_bid(
    state: &AppState,
    user: &achex_store::User,
    auction: AuctionId,
    bid: BidRequest,
    key: Option<String>,
) -> Result<BidAcceptedView, ApiError> {
    if user.role != Role::EnterpriseMember {
        // The seller's own staff get the machine's precise refusal; everyone else may not bid.
        let seller = state.store.auction(auction).await?.seller;
        if user.role != Role::InstituteStaff || user.organization_id != seller {
            return Err(ApiError::forbidden("forbidden_role", "only enterprise members bid"));
        }
    }
    let idempotency = key.map(|key| Idempotency { fingerprint: fingerprint(user, auction, &bid), key });
    let command = Command::PlaceBid {
        bidder: user.id,
        organization: user.organization_id,
        amount: bid.amount,
        max_amount: bid.max_amount,
    };
    let accepted = submit(state, auction, Request { command, idempotency }).await?;
    let seq = accepted
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::BidAccepted { .. }))
        .or(accepted.events.first())
        .map_or(accepted.state.seq, |e| e.seq);
    Ok(BidAcceptedView { seq, events: accepted.events, state: accepted.state, server_time: state.clock.now() })
}

/// Bid (enterprise members with a confirmed deposit). Send an `Idempotency-Key` so a retry after
/// a timeout returns the stored result instead of bidding twice.
#[utoipa::path(post, path = "/api/v1/auctions/{id}/bids", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = BidRequest,
    responses((status = 201, body = BidAcceptedView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "auction_not_open, not_registered, deposit_not_confirmed, seller_cannot_bid…"),
              (status = 422, body = ErrorEnvelope, description = "bid_below_minimum, not_a_multiple_of_increment…")))]
pub async fn bid(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    id: web::Path<AuctionId>,
    Body(body): Body<BidRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let view = place_bid(&state, &user.0, id.into_inner(), body, key).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidHistoryEntry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub bidder_code: String,
    /// Hidden for sealed bids and for a leader raising its own maximum.
    pub amount: Option<Money>,
    pub current_price: Option<Money>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BidHistoryView {
    pub auction_id: AuctionId,
    /// Oldest first.
    pub bids: Vec<BidHistoryEntry>,
    /// With `limit`: there are older bids; pass this as `before` for the page before this one.
    pub older_before: Option<u64>,
}

/// The most bids one page may ask for.
pub const MAX_BID_PAGE: u64 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BidHistoryQuery {
    /// Only the latest `limit` bids (1 to 1000); every bid when absent.
    pub limit: Option<u64>,
    /// Only bids with a smaller `seq` (the `older_before` of the page after).
    pub before: Option<u64>,
}

/// Log entries read at a time when paging backwards; most entries hold one bid.
const LOG_CHUNK: u64 = 256;

fn bid_entries(entry: LogEntry) -> impl DoubleEndedIterator<Item = BidHistoryEntry> {
    entry.events.into_iter().filter_map(|event| match event.kind {
        EventKind::BidAccepted { bidder, amount, current_price, .. } => Some(BidHistoryEntry {
            seq: event.seq,
            at: event.at,
            bidder_code: bidder.to_string(),
            amount,
            current_price,
        }),
        _ => None,
    })
}

/// Accepted bids by bidder code (never by name), oldest first: all of them, or with `limit` the
/// latest page (before `before`), so a live room reads the newest bids of a long auction
/// without its whole history.
#[utoipa::path(get, path = "/api/v1/auctions/{id}/bids", tag = "auctions",
    params(("id" = AuctionId, Path), BidHistoryQuery),
    responses((status = 200, body = BidHistoryView), (status = 404, body = ErrorEnvelope),
              (status = 422, body = ErrorEnvelope)))]
pub async fn bids(
    state: web::Data<AppState>,
    id: web::Path<AuctionId>,
    query: web::Query<BidHistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if query.limit.is_some_and(|l| !(1..=MAX_BID_PAGE).contains(&l)) {
        return Err(ApiError::validation("limit", "out_of_range", "1 to 1000"));
    }
    if query.before == Some(0) {
        return Err(ApiError::validation("before", "out_of_range", "a bid's seq, 1 or more"));
    }
    state.store.auction(id).await?;
    let before = query.before.unwrap_or(u64::MAX);
    let Some(limit) = query.limit else {
        let bids = state.store.auction_log(id).await?.into_iter().flat_map(bid_entries);
        let bids = bids.filter(|b| b.seq < before).collect();
        return Ok(HttpResponse::Ok().json(BidHistoryView { auction_id: id, bids, older_before: None }));
    };
    // Newest first until one more than a page: that one says whether older bids exist.
    let mut newest_first = Vec::with_capacity(limit as usize + 1);
    let mut below = None;
    'read: loop {
        let entries = state.store.auction_log_newest(id, below, LOG_CHUNK).await?;
        let full = entries.len() as u64 == LOG_CHUNK;
        below = entries.last().map(|e| e.index);
        for bid in entries.into_iter().flat_map(|e| bid_entries(e).rev()).filter(|b| b.seq < before) {
            newest_first.push(bid);
            if newest_first.len() as u64 > limit {
                break 'read;
            }
        }
        if !full {
            break;
        }
    }
    let older = newest_first.len() as u64 > limit;
    newest_first.truncate(limit as usize);
    let older_before = older.then(|| newest_first.last().map(|b| b.seq)).flatten();
    newest_first.reverse();
    Ok(HttpResponse::Ok().json(BidHistoryView { auction_id: id, bids: newest_first, older_before }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: String,
}

/// Cancel an auction before its close (admins).
#[utoipa::path(post, path = "/api/v1/auctions/{id}/cancel", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path)), request_body = CancelRequest,
    responses((status = 200, body = AuctionView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn cancel(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
    Body(body): Body<CancelRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Admin])?;
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 2_000 {
        return Err(ApiError::validation("reason", "required", "say why, in at most 2,000 characters"));
    }
    let id = id.into_inner();
    let row = state.store.auction(id).await?;
    let accepted = submit(&state, id, Request::new(Command::Cancel { reason })).await?;
    Ok(HttpResponse::Ok().json(view(id, row.listing_id, accepted.state, state.clock.now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultRequest {
    /// The bidder code of the awardee who failed to complete.
    pub bidder_code: String,
}

/// Record that the winner defaulted: its deposit is forfeited and the runner-up is offered the lot
/// at its own highest bid (admins).
#[utoipa::path(post, path = "/api/v1/auctions/{id}/default", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path)), request_body = DefaultRequest,
    responses((status = 200, body = AuctionView), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope)))]
pub async fn default(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
    Body(body): Body<DefaultRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require_role(&[Role::Admin])?;
    let id = id.into_inner();
    let row = state.store.auction(id).await?;
    let bidders = state.engine.bidders(id).await.map_err(engine_error)?;
    let bidder = bidders.iter().find(|b| b.code().as_str() == body.bidder_code).ok_or_else(|| {
        ApiError::validation("bidder_code", "unknown_bidder", "no bidder with this code is registered")
    })?;
    let accepted = submit(&state, id, Request::new(Command::Default { bidder: bidder.user() })).await?;
    Ok(HttpResponse::Ok().json(view(id, row.listing_id, accepted.state, state.clock.now())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DealView {
    pub buyer_organization: String,
    pub price: Money,
    /// `awarded`, or `defaulted` when the buyer failed to complete.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResultView {
    pub auction_id: AuctionId,
    pub listing_id: ListingId,
    /// `sold`, `unsold_reserve_not_met`, `no_bids`, `cancelled`, `unsold_winner_defaulted`.
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: Outcome,
    pub deals: Vec<DealView>,
    pub server_time: DateTime<Utc>,
}

/// The result of a closed auction, with the deal it created.
#[utoipa::path(get, path = "/api/v1/auctions/{id}/result", tag = "auctions", params(("id" = AuctionId, Path)),
    responses((status = 200, body = ResultView), (status = 404, body = ErrorEnvelope),
              (status = 409, body = ErrorEnvelope, description = "auction_not_closed")))]
pub async fn result(
    state: web::Data<AppState>,
    _user: MaybeUser,
    id: web::Path<AuctionId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state.store.auction(id).await?;
    let public = state.engine.state(id).await.map_err(engine_error)?;
    let Some(outcome) = public.outcome.clone() else {
        return Err(ApiError::Conflict {
            code: "auction_not_closed",
            message: "the auction has not closed yet".into(),
            details: Some(json!({ "ends_at": public.ends_at })),
        });
    };
    let deals = state.store.auction_deals(id).await?;
    let mut orgs: Vec<_> = deals.iter().map(|d| d.buyer_organization).collect();
    orgs.dedup();
    let names = state.store.organizations(&orgs).await?;
    let deals = deals
        .into_iter()
        .map(|d| DealView {
            buyer_organization: names.get(&d.buyer_organization).map(|o| o.name.clone()).unwrap_or_default(),
            price: d.price,
            status: d.status,
            created_at: d.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ResultView {
        auction_id: id,
        listing_id: row.listing_id,
        outcome: outcome.name().to_owned(),
        detail: outcome,
        deals,
        server_time: state.clock.now(),
    }))
}

/// Watch a lot: hear when it opens and shortly before it ends, without registering to bid.
#[utoipa::path(post, path = "/api/v1/auctions/{id}/watch", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn watch(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.store.auction(id).await?;
    state.store.watch_auction(id, user.0.id, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Stop watching a lot (idempotent).
#[utoipa::path(delete, path = "/api/v1/auctions/{id}/watch", tag = "auctions", security(("bearer" = [])),
    params(("id" = AuctionId, Path)),
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn unwatch(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<AuctionId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state.store.auction(id).await?;
    state.store.unwatch_auction(id, user.0.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Watchlist {
    /// The lots the caller watches, most recently watched first.
    pub auctions: Vec<AuctionId>,
}

/// The lots the caller watches.
#[utoipa::path(get, path = "/api/v1/me/watchlist", tag = "auctions", security(("bearer" = [])),
    responses((status = 200, body = Watchlist), (status = 401, body = ErrorEnvelope)))]
pub async fn watchlist(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(Watchlist { auctions: state.store.watched_auctions(user.0.id).await? }))
}
