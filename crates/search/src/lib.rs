//! Search for achex: the [`SearchIndex`] port and its two backends.
//!
//! - [`EmbeddedIndex`] (default, no server): tantivy with one bilingual analyzer — jieba for
//!   Chinese, lower-casing and English stemming for Latin script, on the same fields — plus CJK
//!   bigram fields for recall, typo tolerance for Latin words, quoted exact phrases and a small
//!   Chinese/English synonym table.
//! - [`MeiliIndex`]: the same port over a Meilisearch server (meilisearch-sdk), chosen by config.
//!
//! The caller (the API's outbox consumer, `achex reindex`) builds a [`ListingDocument`] for every
//! public listing and calls [`SearchIndex::upsert`]; withdrawals call [`SearchIndex::delete`].
//! When a write returns, the change is visible to the next search on either backend.
//!
//! Any string is a valid query: there is no query syntax to get wrong. Text over
//! [`MAX_QUERY_CHARS`] characters is refused with [`SearchError::QueryTooLong`].

mod analysis;
mod embedded;
mod highlight;
mod meili;
mod model;
mod query;
mod synonyms;

use achex_core::ListingId;
use async_trait::async_trait;

pub use analysis::warm_up;
pub use embedded::{EmbeddedIndex, EmbeddedOptions, Ranking};
pub use highlight::escape_html;
pub use meili::MeiliIndex;
pub use model::{
    AuctionState, Facets, Filters, Hit, IndexStats, ListingDocument, MAX_PER_PAGE, MAX_QUERY_CHARS, MAX_RESULT_WINDOW,
    SearchError, SearchQuery, SearchResults, Sort, Suggestion,
};
pub use synonyms::SYNONYM_GROUPS;

/// The search port. Both backends implement it with the same observable behaviour; the contract
/// suite in `tests/contract.rs` holds them to it.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Adds or replaces listings (by `listing_id`). Durable and searchable when this returns.
    async fn upsert(&self, docs: Vec<ListingDocument>) -> Result<(), SearchError>;

    /// Removes listings; unknown ids are ignored. Gone from results when this returns.
    async fn delete(&self, ids: Vec<ListingId>) -> Result<(), SearchError>;

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError>;

    /// Search-as-you-type: listings whose title matches what was typed, the last word as a prefix.
    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError>;

    /// "More like this": listings sharing the most telling words of the given one, best first,
    /// never the listing itself. [`SearchError::NotFound`] if it is not indexed.
    async fn similar(&self, listing_id: ListingId, limit: usize) -> Result<Vec<Hit>, SearchError>;

    async fn stats(&self) -> Result<IndexStats, SearchError>;

    /// Removes every listing (before a full reindex).
    async fn clear(&self) -> Result<(), SearchError>;
}
