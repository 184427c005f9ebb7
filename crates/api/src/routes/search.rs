//! Discovery: full-text search with filters, facets and sorts, search-as-you-type, and "more like
//! this". The index answers which listings match; the database then supplies what is shown, so a
//! hit is always the listing as it is now and a listing that stopped being public is never shown,
//! even in the instant before the indexer removes it.

use crate::auth::MaybeUser;
use crate::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;
use crate::views::InstituteRef;
use achex_bidding_engine::PublicState;
use achex_core::{AuctionId, Lang, LangText, ListingId, Money, OrganizationId};
use achex_listing::{Listing, ListingKind, ListingStatus, TransferMode, ValidationErrors};
use achex_search::{AuctionState, Filters, Hit, MAX_PER_PAGE, MAX_QUERY_CHARS, SearchQuery, Sort};
use achex_store::HitInstitute;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

/// A search as the client states it: every value is text, as in a URL, and is checked field by
/// field so a mistake is reported with its name. Saved searches store exactly this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Free text in Chinese and/or English. "Double quotes" make an exact phrase; nothing else is
    /// syntax. At most 1,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Listing kind, e.g. `invention_patent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discipline: Option<String>,
    /// Technology readiness level range, 1 to 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trl_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trl_max: Option<String>,
    /// e.g. `exclusive_license`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_mode: Option<String>,
    /// Institute (organisation) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Asking price range in minor units (fen), inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_max: Option<String>,
    /// `live`, `upcoming` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auction: Option<String>,
    /// Only listings with text in this language: `zh` or `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// `relevance` (default), `newest`, `price_asc`, `price_desc`, `ending_soon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// 1-based page, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// 1 to 100, default 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<String>,
}

const SHORT_MAX: usize = 100;

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn number<T>(
    errors: &mut ValidationErrors,
    field: &str,
    value: &Option<String>,
    range: std::ops::RangeInclusive<T>,
) -> Option<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let text = present(value)?;
    match text.parse::<T>() {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            errors.add(field, "out_of_range", format!("a whole number from {} to {}", range.start(), range.end()));
            None
        }
    }
}

fn short(errors: &mut ValidationErrors, field: &str, value: &Option<String>) -> Option<String> {
    let text = present(value)?;
    if text.chars().count() > SHORT_MAX {
        errors.add(field, "too_long", format!("at most {SHORT_MAX} characters"));
        return None;
    }
    Some(text.to_owned())
}

fn one_of<T>(
    errors: &mut ValidationErrors,
    field: &str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Option<T> {
    let text = present(value)?;
    let parsed = parse(text);
    if parsed.is_none() {
        errors.add(field, "invalid_value", format!("one of: {allowed}"));
    }
    parsed
}

fn transfer_mode(text: &str) -> Option<String> {
    serde_json::from_value::<TransferMode>(serde_json::Value::String(text.to_owned())).ok().map(|_| text.to_owned())
}

impl SearchParams {
    /// Checks every field and builds the query; all problems are reported together.
    pub fn to_query(&self) -> Result<SearchQuery, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let text = self.q.clone().unwrap_or_default();
        if text.chars().count() > MAX_QUERY_CHARS {
            errors.add("q", "too_long", format!("at most {MAX_QUERY_CHARS} characters"));
        }
        let filters = Filters {
            kind: one_of(
                &mut errors,
                "kind",
                &self.kind,
                |s| ListingKind::parse(s).map(|k| k.as_str().to_owned()),
                &ListingKind::ALL.map(|k| k.as_str()).join(", "),
            ),
            discipline: short(&mut errors, "discipline", &self.discipline),
            trl_min: number(&mut errors, "trl_min", &self.trl_min, 1..=9),
            trl_max: number(&mut errors, "trl_max", &self.trl_max, 1..=9),
            transfer_mode: one_of(
                &mut errors,
                "transfer_mode",
                &self.transfer_mode,
                transfer_mode,
                "assignment, exclusive_license, non_exclusive_license, equity, joint_development",
            ),
            institute: one_of(&mut errors, "institute", &self.institute, |s| s.parse::<OrganizationId>().ok(), "an id"),
            region: short(&mut errors, "region", &self.region),
            price_min: number(&mut errors, "price_min", &self.price_min, 0..=i64::MAX),
            price_max: number(&mut errors, "price_max", &self.price_max, 0..=i64::MAX),
            auction: one_of(&mut errors, "auction", &self.auction, AuctionState::parse, "live, upcoming, none"),
            lang: one_of(
                &mut errors,
                "lang",
                &self.lang,
                |s| match s {
                    "zh" => Some(Lang::Zh),
                    "en" => Some(Lang::En),
                    _ => None,
                },
                "zh, en",
            ),
            // Not a public parameter: the saved-search dispatcher sets it itself.
            listing_ids: None,
        };
        if let (Some(lo), Some(hi)) = (filters.trl_min, filters.trl_max)
            && lo > hi
        {
            errors.add("trl_min", "inconsistent", "trl_min is greater than trl_max");
        }
        if let (Some(lo), Some(hi)) = (filters.price_min, filters.price_max)
            && lo > hi
        {
            errors.add("price_min", "inconsistent", "price_min is greater than price_max");
        }
        let sort = one_of(
            &mut errors,
            "sort",
            &self.sort,
            Sort::parse,
            "relevance, newest, price_asc, price_desc, ending_soon",
        )
        .unwrap_or_default();
        let per_page = number(&mut errors, "per_page", &self.per_page, 1..=MAX_PER_PAGE).unwrap_or(20);
        let page = number(&mut errors, "page", &self.page, 1..=10_000u32).unwrap_or(1);
        if u64::from(page) * u64::from(per_page) > achex_search::MAX_RESULT_WINDOW {
            errors.add("page", "out_of_range", "results beyond the first 10,000 are not served; narrow the search");
        }
        errors.into_result()?;
        Ok(SearchQuery { text, filters, sort, page, per_page })
    }
}

/// A lot running (or about to run) for a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuctionBrief {
    pub id: AuctionId,
    /// `upcoming`, `free_quote`, `live` or `closing`.
    #[schema(value_type = String)]
    pub status: achex_bidding_engine::Status,
    pub current_price: Option<Money>,
    /// The least a bid could be accepted at now (for a lot without bids: the starting price).
    pub next_minimum_bid: Option<Money>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitView {
    pub listing_id: ListingId,
    pub title: LangText,
    pub summary: LangText,
    #[schema(value_type = String)]
    pub kind: ListingKind,
    pub institute: InstituteRef,
    /// Asking price; `null` when negotiable.
    pub price: Option<Money>,
    /// The listing's open auction, if any.
    pub auction: Option<AuctionBrief>,
    /// Field → HTML-escaped snippet in which `<mark>` is the only markup.
    pub highlights: BTreeMap<String, String>,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub hits: Vec<SearchHitView>,
    /// Facet → value → number of matching listings, over the whole filtered result set:
    /// `kind`, `discipline`, `transfer_mode`, `trl`, `region`.
    #[schema(value_type = Object)]
    pub facets: achex_search::Facets,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub took_ms: u64,
}

/// Turns index hits into what the client shows, dropping any listing that is no longer public.
///
/// When the index returned its documents (the embedded backend does), only the listings' status
/// is read back, which is one narrow query; otherwise the listings are loaded whole.
async fn hit_views(state: &AppState, mut hits: Vec<Hit>) -> Result<Vec<SearchHitView>, ApiError> {
    let ids: Vec<ListingId> = hits.iter().map(|h| h.listing_id).collect();
    let mut lots: HashMap<ListingId, AuctionBrief> = HashMap::new();
    let brief = |id: AuctionId, summary: &PublicState| AuctionBrief {
        id,
        status: summary.status,
        current_price: summary.current_price,
        next_minimum_bid: summary.next_minimum_bid,
        starts_at: summary.starts_at,
        ends_at: summary.ends_at,
    };
    let (mut cards, names): (HashMap<ListingId, Card>, HashMap<OrganizationId, InstituteRef>) =
        if hits.iter().all(|h| h.document.is_some()) {
            // The index's documents give the cards; the database says which are public now, by
            // whom, and at what price their lots stand, in one query.
            let facts = state.store.public_hit_facts(&ids).await?;
            // The documents are taken, not copied: only their cards are shown.
            let cards = hits
                .iter_mut()
                .filter(|h| facts.contains_key(&h.listing_id))
                .filter_map(|h| h.document.take().and_then(|d| Card::from_document(*d)))
                .map(|c| (c.id, c))
                .collect();
            let mut names = HashMap::with_capacity(facts.len());
            for (listing, fact) in facts {
                if let Some((id, summary)) = &fact.open_lot {
                    lots.insert(listing, brief(*id, summary));
                }
                let HitInstitute { id, name, verified } = fact.institute;
                names.insert(id, InstituteRef { id, name, verified });
            }
            (cards, names)
        } else {
            let cards: HashMap<ListingId, Card> = state
                .store
                .listings_by_ids(&ids)
                .await?
                .into_iter()
                .filter(|l| l.status == ListingStatus::Published)
                .map(|l| (l.id, Card::from_listing(l)))
                .collect();
            let mut institutes: Vec<OrganizationId> = cards.values().map(|c| c.institute).collect();
            institutes.sort();
            institutes.dedup();
            let public_ids: Vec<ListingId> = cards.keys().copied().collect();
            for lot in state.store.open_auctions(Some(&public_ids)).await? {
                // open_auctions is ordered by end: the first one seen per listing ends soonest.
                lots.entry(lot.listing_id).or_insert_with(|| brief(lot.id, &lot.summary));
            }
            let names = state.store.organizations(&institutes).await?;
            let names =
                names.into_values().map(|o| (o.id, InstituteRef { id: o.id, name: o.name, verified: o.verified }));
            (cards, names.collect())
        };
    Ok(hits
        .into_iter()
        .filter_map(|hit| {
            let card = cards.remove(&hit.listing_id)?;
            let org = names.get(&card.institute)?;
            Some(SearchHitView {
                listing_id: card.id,
                title: card.title,
                summary: card.summary,
                kind: card.kind,
                institute: org.clone(),
                price: card.price,
                auction: lots.remove(&card.id),
                highlights: hit.highlights,
                published_at: card.published_at,
            })
        })
        .collect())
}

/// What a result card shows of a listing, from the index's document or from the database.
struct Card {
    id: ListingId,
    title: LangText,
    summary: LangText,
    kind: ListingKind,
    institute: OrganizationId,
    price: Option<Money>,
    published_at: Option<DateTime<Utc>>,
}

impl Card {
    fn from_document(d: achex_search::ListingDocument) -> Option<Card> {
        Some(Card {
            id: d.listing_id,
            title: d.title,
            summary: d.summary,
            kind: ListingKind::parse(&d.kind)?,
            institute: d.institute_id,
            price: d.price,
            published_at: Some(d.published_at),
        })
    }

    fn from_listing(l: Listing) -> Card {
        Card {
            id: l.id,
            title: l.content.title,
            summary: l.content.summary,
            kind: l.content.kind,
            institute: l.institute_id,
            price: l.content.asking_price,
            published_at: l.published_at,
        }
    }
}

/// Search public listings in Chinese and English, with filters, facets and sorts. Any text is a
/// valid query.
#[utoipa::path(get, path = "/api/v1/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResponse), (status = 422, body = ErrorEnvelope),
              (status = 503, body = ErrorEnvelope, description = "search_unavailable")))]
pub async fn search(state: web::Data<AppState>, params: web::Query<SearchParams>) -> Result<HttpResponse, ApiError> {
    let query = params.to_query()?;
    let results = state.search.search(&query).await?;
    let hits = hit_views(&state, results.hits).await?;
    let response = SearchResponse {
        hits,
        facets: results.facets,
        total: results.total,
        page: query.page,
        per_page: query.per_page,
        took_ms: results.took_ms,
    };
    // A page of Chinese hits is tens of KiB of JSON: written into a buffer of about the right
    // size, not one that doubles its way there (each doubling copies what was written so far).
    let mut body = Vec::with_capacity(response.approximate_json_len());
    serde_json::to_writer(&mut body, &response).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().content_type(actix_web::http::header::ContentType::json()).body(body))
}

impl SearchResponse {
    /// A little more than the JSON's length: the texts, plus room for names, ids and escapes.
    fn approximate_json_len(&self) -> usize {
        let text = |t: &LangText| t.versions().map(|(_, s)| s.len() + 16).sum::<usize>();
        let hits: usize = self
            .hits
            .iter()
            .map(|h| {
                text(&h.title)
                    + text(&h.summary)
                    + h.highlights.iter().map(|(k, v)| k.len() + v.len() + 8).sum::<usize>()
                    + h.institute.name.len()
                    + 640
            })
            .sum();
        let facets = self.facets.kind.len()
            + self.facets.discipline.len()
            + self.facets.transfer_mode.len()
            + self.facets.trl.len()
            + self.facets.region.len();
        hits + facets * 48 + 512
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// What has been typed so far (the last word counts as a prefix). At most 100 characters.
    pub q: Option<String>,
    /// 1 to 20, default 8.
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionView {
    pub listing_id: ListingId,
    /// The title, plain text.
    pub text: String,
    /// The title, HTML-escaped, with the typed part in `<mark>`.
    pub highlighted: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestResponse {
    pub suggestions: Vec<SuggestionView>,
}

/// Search-as-you-type: titles of public listings matching what was typed.
#[utoipa::path(get, path = "/api/v1/search/suggest", tag = "search", params(SuggestParams),
    responses((status = 200, body = SuggestResponse), (status = 422, body = ErrorEnvelope)))]
pub async fn suggest(state: web::Data<AppState>, params: web::Query<SuggestParams>) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::default();
    let typed = params.q.clone().unwrap_or_default();
    if typed.chars().count() > SHORT_MAX {
        errors.add("q", "too_long", format!("at most {SHORT_MAX} characters"));
    }
    let limit = number(&mut errors, "limit", &params.limit, 1..=20usize).unwrap_or(8);
    errors.into_result()?;
    if typed.trim().is_empty() {
        return Ok(HttpResponse::Ok().json(SuggestResponse { suggestions: Vec::new() }));
    }
    let suggestions = state.search.suggest(&typed, limit).await?;
    let ids: Vec<ListingId> = suggestions.iter().map(|s| s.listing_id).collect();
    // Only which are public now: the hit facts' narrow read (a covering index), not the listings
    // whole, on every keystroke.
    let public = state.store.public_hit_facts(&ids).await?;
    let suggestions = suggestions
        .into_iter()
        .filter(|s| public.contains_key(&s.listing_id))
        .map(|s| SuggestionView { listing_id: s.listing_id, text: s.text, highlighted: s.highlighted })
        .collect();
    Ok(HttpResponse::Ok().json(SuggestResponse { suggestions }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// 1 to 20, default 6.
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarResponse {
    pub hits: Vec<SearchHitView>,
}

/// "More like this": public listings sharing the most telling words of this one.
#[utoipa::path(get, path = "/api/v1/listings/{id}/similar", tag = "search",
    params(("id" = ListingId, Path), SimilarParams),
    responses((status = 200, body = SimilarResponse), (status = 404, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
pub async fn similar(
    state: web::Data<AppState>,
    _user: MaybeUser,
    id: web::Path<ListingId>,
    params: web::Query<SimilarParams>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::default();
    let limit = number(&mut errors, "limit", &params.limit, 1..=20usize).unwrap_or(6);
    errors.into_result()?;
    let listing = state.store.listing(id.into_inner()).await?;
    if listing.status != ListingStatus::Published {
        return Err(ApiError::NotFound);
    }
    let hits = match state.search.similar(listing.id, limit).await {
        Ok(hits) => hits,
        // Published a moment ago and not indexed yet: nothing to compare with so far.
        Err(achex_search::SearchError::NotFound(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(HttpResponse::Ok().json(SimilarResponse { hits: hit_views(&state, hits).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> SearchParams {
        let query: String = pairs.iter().map(|(k, v)| format!("{k}={v}&")).collect();
        serde_urlencoded_like(&query)
    }

    fn serde_urlencoded_like(query: &str) -> SearchParams {
        web::Query::<SearchParams>::from_query(query).expect("parses").into_inner()
    }

    #[test]
    fn every_bad_field_is_reported_at_once_with_its_name() {
        let errors = params(&[("trl_min", "0"), ("sort", "cheapest"), ("per_page", "101"), ("auction", "soon")])
            .to_query()
            .expect_err("invalid");
        let fields: Vec<&str> = errors.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["trl_min", "auction", "sort", "per_page"]);
    }

    #[test]
    fn inverted_ranges_are_refused() {
        let errors = params(&[("price_min", "500"), ("price_max", "100")]).to_query().expect_err("invalid");
        assert_eq!(errors.errors[0].code, "inconsistent");
    }

    #[test]
    fn empty_values_mean_no_filter() {
        let query = params(&[("kind", ""), ("q", "电池")]).to_query().expect("valid");
        assert_eq!(query.filters, Filters::default());
        assert_eq!(query.text, "电池");
    }

    #[test]
    fn deep_pages_are_refused() {
        let errors = params(&[("page", "200"), ("per_page", "100")]).to_query().expect_err("too deep");
        assert_eq!(errors.errors[0].field, "page");
    }
}
