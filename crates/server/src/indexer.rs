//! Keeps the search index equal to the public listings by following the outbox.
//!
//! Every committed listing change (publish, edit, withdraw, an auction opened or closed) leaves a
//! `listing` event in the outbox in the same transaction. The indexer reads the events after its
//! position, re-reads those listings as they are *now*, upserts the public ones and deletes the
//! rest, and only then moves its position. A crash between the two re-applies a batch, which is
//! harmless (upserts replace, deletes ignore unknown ids), so nothing committed is ever missing
//! and a listing that stopped being public always leaves the index.
//!
//! The position lives beside the index it describes: a file in the embedded index's directory
//! (delete the index and the position goes with it, so the next start rebuilds), in memory for an
//! in-memory index, and in the database's consumer table for a shared Meilisearch index.

use achex_core::{ListingId, OrganizationId};
use achex_listing::{Listing, ListingStatus};
use achex_search::{AuctionState, ListingDocument, SearchIndex};
use achex_store::{AuctionRow, Store, Topic};
use anyhow::Context;
use chrono::{DateTime, Utc};
use prometheus_client::metrics::histogram::Histogram;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// Where the indexer records how far it got.
#[derive(Debug)]
pub enum PositionStore {
    /// For an in-memory index: gone with the process, like the index.
    Memory,
    /// A file inside the embedded index's directory.
    File(PathBuf),
    /// A named consumer in the database (a Meilisearch index shared by every node).
    Database(String),
}

/// Events read per round; each round is one index commit. Only a backlog (a bulk approval, an
/// import, a restart) fills a round: at ten changes a second a round holds one or two. Every
/// commit of the embedded index starts new segments, and tantivy merges them again afterwards.
/// In `bench-notify`'s burst of 10,000 approvals, tantivy's threads took 1.4–1.6 s of CPU in
/// rounds of 1,000 (a merge thread among them) and 0.6–0.7 s in rounds of 5,000 (no merge),
/// CPU the e-mails of the same burst share.
const BATCH: u64 = 5_000;
/// Listings per upsert during a rebuild.
const REBUILD_BATCH: u64 = 2_000;
/// How often to look for commits made by other processes (this process's commits wake it at once).
const POLL: Duration = Duration::from_millis(500);

pub struct Indexer {
    store: Store,
    index: Arc<dyn SearchIndex>,
    positions: PositionStore,
    /// The position applied so far; `None` until the first catch-up or rebuild decided it.
    applied: watch::Sender<Option<i64>>,
    /// One round at a time, also when `catch_up` is called from outside the loop (tests, reindex).
    round: Mutex<()>,
    /// Seconds from a change's commit to the moment it is searchable.
    lag: Option<Histogram>,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer").field("positions", &self.positions).finish_non_exhaustive()
    }
}

impl Indexer {
    pub fn new(store: Store, index: Arc<dyn SearchIndex>, positions: PositionStore, lag: Option<Histogram>) -> Indexer {
        Indexer { store, index, positions, applied: watch::Sender::new(None), round: Mutex::new(()), lag }
    }

    /// Watches the applied position (tests wait on it instead of sleeping).
    pub fn applied(&self) -> watch::Receiver<Option<i64>> {
        self.applied.subscribe()
    }

    /// Waits until everything committed before this call is searchable.
    pub async fn wait_until_current(&self) -> anyhow::Result<()> {
        let head = self.store.outbox_head(Topic::Listing).await?;
        let mut applied = self.applied();
        applied.wait_for(|p| p.is_some_and(|p| p >= head)).await.context("the indexer stopped")?;
        Ok(())
    }

    async fn load_position(&self) -> anyhow::Result<Option<i64>> {
        Ok(match &self.positions {
            PositionStore::Memory => *self.applied.borrow(),
            PositionStore::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(text.trim().parse().with_context(|| format!("{} is corrupt", path.display()))?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
            },
            PositionStore::Database(name) => match self.store.consumer_position(name).await? {
                0 => None,
                p => Some(p),
            },
        })
    }

    async fn save_position(&self, position: i64) -> anyhow::Result<()> {
        match &self.positions {
            PositionStore::Memory => {}
            PositionStore::File(path) => write_atomically(path, &position.to_string())?,
            PositionStore::Database(name) => self.store.save_consumer_position(name, position).await?,
        }
        self.applied.send_replace(Some(position));
        Ok(())
    }

    /// Brings the index up to date: a full rebuild when it has no position (new or deleted
    /// index), otherwise the outbox events after its position. Returns the events applied.
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let _round = self.round.lock().await;
        let Some(mut position) = self.load_position().await? else {
            drop(_round);
            self.rebuild(|_, _| {}).await?;
            return Ok(0);
        };
        self.applied.send_if_modified(|p| {
            let changed = *p != Some(position);
            *p = Some(position);
            changed
        });
        let mut applied = 0;
        loop {
            let events = self.store.outbox_after(Topic::Listing, position, BATCH).await?;
            let Some(last) = events.last() else { break };
            let last_position = last.position;
            let ids: Vec<ListingId> =
                events.iter().map(|e| ListingId::from(e.subject)).collect::<HashSet<_>>().into_iter().collect();
            self.apply(&ids).await?;
            if let Some(histogram) = &self.lag {
                let now = Utc::now();
                for event in &events {
                    let lag = (now - event.created_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                    histogram.observe(lag.max(0.0));
                }
            }
            applied += events.len();
            position = last_position;
            self.save_position(position).await?;
        }
        Ok(applied)
    }

    /// Re-reads these listings and makes the index agree with them.
    async fn apply(&self, ids: &[ListingId]) -> anyhow::Result<()> {
        let listings = self.store.listings_by_ids(ids).await?;
        let public: Vec<Listing> = listings.into_iter().filter(|l| l.status == ListingStatus::Published).collect();
        let public_ids: HashSet<ListingId> = public.iter().map(|l| l.id).collect();
        let gone: Vec<ListingId> = ids.iter().copied().filter(|id| !public_ids.contains(id)).collect();
        if !gone.is_empty() {
            self.index.delete(gone).await?;
        }
        if !public.is_empty() {
            let auctions = self.store.open_auctions(Some(&public.iter().map(|l| l.id).collect::<Vec<_>>())).await?;
            let docs = self.documents(public, &auctions).await?;
            self.index.upsert(docs).await?;
        }
        Ok(())
    }

    async fn documents(&self, listings: Vec<Listing>, auctions: &[AuctionRow]) -> anyhow::Result<Vec<ListingDocument>> {
        let institutes: Vec<OrganizationId> =
            listings.iter().map(|l| l.institute_id).collect::<HashSet<_>>().into_iter().collect();
        let names = self.store.organizations(&institutes).await?;
        let lots = auctions_by_listing(auctions);
        Ok(listings
            .into_iter()
            .map(|listing| {
                let institute_name = names.get(&listing.institute_id).map(|o| o.name.clone()).unwrap_or_default();
                let auction = lots.get(&listing.id).copied();
                document(listing, institute_name, auction)
            })
            .collect())
    }

    /// Empties the index and loads every public listing, calling `progress(done, total)` as it
    /// goes. The outbox head is read *before* the listings, so a change committed during the
    /// rebuild is applied again afterwards rather than lost.
    pub async fn rebuild(&self, mut progress: impl FnMut(u64, u64)) -> anyhow::Result<u64> {
        let _round = self.round.lock().await;
        let head = self.store.outbox_head(Topic::Listing).await?;
        let total = self.store.count_listings(ListingStatus::Published).await?;
        self.index.clear().await?;
        let auctions = self.store.open_auctions(None).await?;
        let mut done = 0;
        let mut after = None;
        progress(0, total);
        loop {
            let page = self.store.published_listings_after(after, REBUILD_BATCH).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            done += page.len() as u64;
            let docs = self.documents(page, &auctions).await?;
            self.index.upsert(docs).await?;
            progress(done, total.max(done));
        }
        self.index.compact().await?;
        self.save_position(head).await?;
        drop(_round);
        // Whatever was committed while we scanned.
        Box::pin(self.catch_up()).await?;
        Ok(done)
    }

    /// Follows the outbox until `shutdown` fires: wakes on this process's commits at once and
    /// polls for other processes'. Errors are logged and retried, never fatal: the index is a
    /// copy and will catch up.
    pub fn spawn(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut signal = self.store.outbox_signal();
            let mut failures = 0u32;
            loop {
                signal.mark_unchanged();
                match self.catch_up().await {
                    Ok(_) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %format!("{e:#}"), failures, "search indexing failed; will retry");
                    }
                }
                let pause = if failures == 0 { POLL } else { POLL * failures.min(20) };
                tokio::select! {
                    _ = signal.changed() => {}
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
                if *shutdown.borrow() {
                    return;
                }
            }
        })
    }
}

/// The lot that decides a listing's auction facet: a live one before an upcoming one, and the
/// soonest-ending among equals.
fn auctions_by_listing(auctions: &[AuctionRow]) -> HashMap<ListingId, (AuctionState, DateTime<Utc>)> {
    let mut lots: HashMap<ListingId, (AuctionState, DateTime<Utc>)> = HashMap::new();
    for lot in auctions {
        let state = match lot.summary.status {
            achex_bidding_engine::Status::Upcoming => AuctionState::Upcoming,
            achex_bidding_engine::Status::Closed => continue,
            _ => AuctionState::Live,
        };
        let candidate = (state, lot.summary.ends_at);
        lots.entry(lot.listing_id)
            .and_modify(|current| {
                let better = match (candidate.0, current.0) {
                    (AuctionState::Live, AuctionState::Upcoming) => true,
                    (a, b) if a == b => candidate.1 < current.1,
                    _ => false,
                };
                if better {
                    *current = candidate;
                }
            })
            .or_insert(candidate);
    }
    lots
}

/// What the index knows about a public listing.
pub fn document(
    listing: Listing,
    institute_name: String,
    auction: Option<(AuctionState, DateTime<Utc>)>,
) -> ListingDocument {
    let content = listing.content;
    ListingDocument {
        listing_id: listing.id,
        title: content.title,
        summary: content.summary,
        description: content.description,
        keywords: content.keywords,
        kind: content.kind.as_str().to_owned(),
        discipline: content.discipline,
        trl: content.trl,
        transfer_modes: content
            .transfer_modes
            .iter()
            .filter_map(|m| serde_json::to_value(m).ok().and_then(|v| v.as_str().map(str::to_owned)))
            .collect(),
        institute_id: listing.institute_id,
        institute_name,
        region: content.region,
        price: content.asking_price,
        auction: auction.map_or(AuctionState::None, |(state, _)| state),
        auction_ends_at: auction.map(|(_, ends)| ends),
        published_at: listing.published_at.unwrap_or(listing.updated_at),
    }
}

fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
