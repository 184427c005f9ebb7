//! What every handler can reach. Built once by the server's wiring; there are no globals.

use crate::auth::{PasswordHasher, TokenService};
use crate::files::BlobStore;
use crate::metrics::Metrics;
use crate::rate_limit::LoginLimiter;
use achex_bidding_engine::engine::Engine;
use achex_core::Clock;
use achex_store::Store;
use std::sync::Arc;

pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub tokens: TokenService,
    pub passwords: PasswordHasher,
    pub login_limiter: LoginLimiter,
    pub blobs: BlobStore,
    pub metrics: Metrics,
    /// One owner task per open lot; see `achex_bidding_engine::engine`.
    pub engine: Arc<Engine>,
    pub hub: crate::ws::Hub,
    /// The search index (embedded or Meilisearch); kept current by the server's outbox indexer.
    pub search: Arc<dyn achex_search::SearchIndex>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store).field("engine", &self.engine).finish_non_exhaustive()
    }
}
