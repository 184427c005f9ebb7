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
mod coord;
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

    /// Tidies the index after a bulk load (the embedded index merges its segments). A no-op for
    /// backends that do this themselves.
    async fn compact(&self) -> Result<(), SearchError> {
        Ok(())
    }
}

/// Which backend to run, as the caller's configuration says
/// (`ACHEX__SEARCH__BACKEND=embedded|meilisearch`, `…__URL`, `…__API_KEY`).
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded index in this directory, or in memory when `None`.
    Embedded {
        dir: Option<std::path::PathBuf>,
    },
    Meilisearch {
        url: String,
        api_key: Option<String>,
        index: String,
    },
}

/// Opens the configured backend: creates the embedded index or connects to Meilisearch and
/// applies its settings.
pub async fn open(backend: Backend) -> Result<std::sync::Arc<dyn SearchIndex>, SearchError> {
    Ok(match backend {
        Backend::Embedded { dir: Some(dir) } => std::sync::Arc::new(EmbeddedIndex::open(&dir)?),
        Backend::Embedded { dir: None } => std::sync::Arc::new(EmbeddedIndex::in_memory()?),
        Backend::Meilisearch { url, api_key, index } => {
            std::sync::Arc::new(MeiliIndex::connect(&url, api_key.as_deref(), &index).await?)
        }
    })
}
