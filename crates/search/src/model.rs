//! The vocabulary of the search port: what the caller indexes, what it asks and what it gets back.
//! Both backends speak exactly these types, so the API layer never knows which one is running.

use std::collections::BTreeMap;

use achex_core::{Lang, LangText, ListingId, Money, OrganizationId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest query text accepted, in characters. Longer input is refused with
/// [`SearchError::QueryTooLong`] instead of being truncated silently: a 10 KB paste is almost
/// certainly a mistake, and analysing it would cost far more than any real query.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// The largest page the port serves.
pub const MAX_PER_PAGE: u32 = 100;

/// How deep pagination may go (`page * per_page`). Deeper pages cost a full sort of the result
/// set on every request; Meilisearch refuses them too (its `maxTotalHits`), so both backends agree.
pub const MAX_RESULT_WINDOW: u64 = 10_000;

/// The auction state of a listing as the index sees it. The caller re-upserts the document when an
/// auction opens or closes; the index does not derive it from the clock, so that what is filtered
/// is exactly what the database said at the last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuctionState {
    #[default]
    None,
    Upcoming,
    Live,
}

impl AuctionState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuctionState::None => "none",
            AuctionState::Upcoming => "upcoming",
            AuctionState::Live => "live",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(AuctionState::None),
            "upcoming" => Some(AuctionState::Upcoming),
            "live" => Some(AuctionState::Live),
            _ => None,
        }
    }
}

/// One public listing as the index stores it. The caller builds it from the listing aggregate
/// (only for listings that are public) and calls [`crate::SearchIndex::upsert`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingDocument {
    pub listing_id: ListingId,
    pub title: LangText,
    pub summary: LangText,
    pub description: LangText,
    pub keywords: Vec<String>,
    /// `ListingKind::as_str()`, e.g. `invention_patent`.
    pub kind: String,
    pub discipline: String,
    /// Technology readiness level, 1..=9.
    pub trl: u8,
    /// snake_case transfer modes, e.g. `exclusive_license`.
    pub transfer_modes: Vec<String>,
    pub institute_id: OrganizationId,
    pub institute_name: String,
    pub region: String,
    /// Asking price. Price filters and sorts compare `amount` (minor units); the caller is expected
    /// to list in one currency (CNY) — see the crate README.
    pub price: Option<Money>,
    pub auction: AuctionState,
    pub auction_ends_at: Option<DateTime<Utc>>,
    pub published_at: DateTime<Utc>,
}

impl ListingDocument {
    /// The languages the listing is written in (any of title, summary, description present).
    pub fn langs(&self) -> Vec<Lang> {
        [Lang::Zh, Lang::En]
            .into_iter()
            .filter(|l| self.title.has(*l) || self.summary.has(*l) || self.description.has(*l))
            .collect()
    }

    /// Refuses documents the index could not answer correctly about.
    pub fn validate(&self) -> Result<(), SearchError> {
        let fail =
            |reason: &str| Err(SearchError::InvalidDocument { listing_id: self.listing_id, reason: reason.into() });
        if !(1..=9).contains(&self.trl) {
            return fail("trl must be between 1 and 9");
        }
        if self.kind.trim().is_empty() {
            return fail("kind is empty");
        }
        Ok(())
    }
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first; with an empty query, newest first.
    #[default]
    Relevance,
    Newest,
    /// Cheapest first; listings without a price last.
    PriceAsc,
    /// Dearest first; listings without a price last.
    PriceDesc,
    /// Auctions ending soonest first; listings without an auction end last.
    EndingSoon,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "relevance" => Some(Sort::Relevance),
            "newest" => Some(Sort::Newest),
            "price_asc" => Some(Sort::PriceAsc),
            "price_desc" => Some(Sort::PriceDesc),
            "ending_soon" => Some(Sort::EndingSoon),
            _ => None,
        }
    }
}

/// Filters; every set filter must hold (AND). String filters match the stored value exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    pub kind: Option<String>,
    pub discipline: Option<String>,
    pub trl_min: Option<u8>,
    pub trl_max: Option<u8>,
    /// The listing offers this transfer mode (among others).
    pub transfer_mode: Option<String>,
    pub institute: Option<OrganizationId>,
    pub region: Option<String>,
    /// Inclusive, in minor units. Listings without a price never match a price filter.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    pub auction: Option<AuctionState>,
    /// The listing has text in this language.
    pub lang: Option<Lang>,
    /// Only these listings (an empty list matches nothing). Not a user-facing filter: saved-search
    /// alerts ask which of the listings that just changed a saved query matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_ids: Option<Vec<ListingId>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Free text. Any string is valid: words, "quoted phrases", Chinese, English or both.
    pub text: String,
    pub filters: Filters,
    pub sort: Sort,
    /// 1-based.
    pub page: u32,
    /// 1..=[`MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self { text: String::new(), filters: Filters::default(), sort: Sort::Relevance, page: 1, per_page: 20 }
    }
}

impl SearchQuery {
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    /// Checks what both backends must refuse in the same way. Called by every backend first.
    pub fn validate(&self) -> Result<(), SearchError> {
        let len = self.text.chars().count();
        if len > MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong { len, max: MAX_QUERY_CHARS });
        }
        if self.page == 0 {
            return Err(SearchError::InvalidQuery("page starts at 1".into()));
        }
        if self.per_page == 0 || self.per_page > MAX_PER_PAGE {
            return Err(SearchError::InvalidQuery(format!("per_page must be between 1 and {MAX_PER_PAGE}")));
        }
        if u64::from(self.page) * u64::from(self.per_page) > MAX_RESULT_WINDOW {
            return Err(SearchError::InvalidQuery(format!(
                "results beyond the first {MAX_RESULT_WINDOW} are not served"
            )));
        }
        let f = &self.filters;
        if let (Some(lo), Some(hi)) = (f.trl_min, f.trl_max)
            && lo > hi
        {
            return Err(SearchError::InvalidQuery("trl_min is greater than trl_max".into()));
        }
        if let (Some(lo), Some(hi)) = (f.price_min, f.price_max)
            && lo > hi
        {
            return Err(SearchError::InvalidQuery("price_min is greater than price_max".into()));
        }
        Ok(())
    }

    pub(crate) fn offset(&self) -> usize {
        (self.page as usize - 1) * self.per_page as usize
    }
}

/// One result. The caller checks the listing is still public, by id, before showing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub listing_id: ListingId,
    /// Backend-specific relevance (BM25 sum for the embedded index, ranking score for
    /// Meilisearch). Only its order within one response means anything.
    pub score: f32,
    /// Field name (`title`, `summary`, `description`, `keywords`) → HTML-escaped text in which only
    /// `<mark>`…`</mark>` is markup. Only fields where something matched are present.
    pub highlights: BTreeMap<String, String>,
    /// The document as indexed, when the backend has it at hand at no extra cost (the embedded
    /// index reads it for the highlights anyway). Lets the caller show a hit without loading the
    /// listing again; `None` from backends that would need another round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Box<ListingDocument>>,
}

/// Value → number of matching listings, for each facet, over the whole filtered result set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    pub kind: BTreeMap<String, u64>,
    pub discipline: BTreeMap<String, u64>,
    pub transfer_mode: BTreeMap<String, u64>,
    pub trl: BTreeMap<String, u64>,
    pub region: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub facets: Facets,
    /// Number of listings matching the text and filters.
    pub total: u64,
    pub took_ms: u64,
}

/// A search-as-you-type suggestion: a listing whose title matches what was typed so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub listing_id: ListingId,
    /// The title, plain text.
    pub text: String,
    /// The title, HTML-escaped, with the typed part in `<mark>`.
    pub highlighted: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    pub backend: String,
    pub documents: u64,
    /// Bytes on disk, when the backend knows it.
    pub size_bytes: Option<u64>,
}

/// Everything that can go wrong. The API maps `QueryTooLong` and `InvalidQuery` to 422,
/// `InvalidDocument` to a bug in the caller, `Unavailable` to 503 and the rest to 500.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is {len} characters long; at most {max} are accepted")]
    QueryTooLong { len: usize, max: usize },
    #[error("invalid search request: {0}")]
    InvalidQuery(String),
    #[error("listing {listing_id} cannot be indexed: {reason}")]
    InvalidDocument { listing_id: ListingId, reason: String },
    #[error("listing {0} is not in the index")]
    NotFound(ListingId),
    #[error("the index on disk was built with another schema or analyzer; rebuild it with `achex reindex`")]
    SchemaMismatch,
    #[error("the search backend is unavailable: {0}")]
    Unavailable(String),
    #[error("the search backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl SearchError {
    pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SearchError::Backend(Box::new(e))
    }

    /// True for errors caused by the request (the API answers 4xx), false for server faults.
    pub fn is_client_error(&self) -> bool {
        matches!(self, SearchError::QueryTooLong { .. } | SearchError::InvalidQuery(_) | SearchError::NotFound(_))
    }
}

impl From<tantivy::TantivyError> for SearchError {
    fn from(e: tantivy::TantivyError) -> Self {
        SearchError::backend(e)
    }
}
