//! The embedded backend: tantivy in-process, no server.
//!
//! Writes go through one writer thread that owns the only `IndexWriter` (tantivy allows one per
//! index, and Meilisearch works the same way). Requests queued while a commit runs are applied
//! together and committed once (group commit), then the reader is reloaded before anyone is
//! answered: when `upsert`/`delete`/`clear` returns, the change is durable and visible to the
//! next search. Callers that load many documents should pass them in large batches — each call
//! costs one commit.
//!
//! Reads run on tokio's blocking pool against a searcher snapshot; they never wait for writes.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Instant;

use achex_core::ListingId;
use async_trait::async_trait;
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    AllQuery, Bm25StatisticsProvider, BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, PhraseQuery,
    Query, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::store::Compressor;
use tantivy::tokenizer::TokenizerManager;
use tantivy::{
    DocAddress, DocId, Index, IndexBuilder, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Score, Searcher,
    SegmentReader, TantivyDocument, TantivyError, Term,
};
use tokio::sync::oneshot;

mod build;
mod collect;
mod pool;

use build::{Expansions, boxed_term};
use collect::{FacetCollector, FacetValuesCache, FieldLengthStats, sort_key};
use pool::SearchPool;

use crate::SearchIndex;
use crate::analysis::{self, BilingualTokenizer, CjkBigramTokenizer, GRAMS_TOKENIZER, TEXT_TOKENIZER, WordStemmer};
use crate::coord::CoordQuery;
use crate::highlight::{HighlightSpec, best_version, build_highlights, render};
use crate::model::*;
use crate::query::{Phrase, PhrasePart, QueryAnalysis, SynonymKey, analyze_query, without_quotes};

/// Field weights and expansion boosts. The defaults are the product's ranking, tuned on the
/// test collections as a whole (see the crate README); the quality tool reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    pub title: f32,
    pub summary: f32,
    pub description: f32,
    pub keywords: f32,
    pub institute: f32,
    /// CJK bigrams of the title.
    pub title_grams: f32,
    /// CJK bigrams of summary, description, keywords and institute name.
    pub body_grams: f32,
    /// Multiplier for jieba search-mode sub-words (智能 inside 人工智能).
    pub subword: f32,
    /// Multiplier for typo expansions of Latin words.
    pub fuzzy: f32,
    /// Multiplier for synonym phrases.
    pub synonym: f32,
    /// Strength of the reward for matching more of the query's words (0 = plain BM25 sum).
    pub coordination: f32,
    /// Queries with more words than this get no coordination: a long, verbose query says the
    /// same thing several ways and no single listing is expected to contain all of it.
    pub coordination_max_words: usize,
    /// A word in more than this share of the listings is "common": it adds to the score of
    /// listings that match a rarer query word but does not match on its own.
    pub common_cutoff: f32,
    /// Below this many listings every word may match on its own (document frequencies of a
    /// small index say little).
    pub common_min_docs: u64,
    /// Latin words shorter than this (in characters) get no typo expansion.
    pub fuzzy_min_chars: usize,
    /// At most this many words of one query get typo expansions (long queries have redundancy
    /// and each expansion costs a dictionary walk).
    pub fuzzy_max_words: usize,
    /// At most this many expansions per word.
    pub fuzzy_max_expansions: usize,
}

impl Default for Ranking {
    fn default() -> Self {
        Ranking {
            title: 1.0,
            summary: 1.0,
            description: 1.0,
            keywords: 1.0,
            institute: 0.5,
            title_grams: 0.6,
            body_grams: 0.5,
            subword: 0.3,
            fuzzy: 0.3,
            synonym: 0.7,
            coordination: 1.0,
            coordination_max_words: 6,
            common_cutoff: 0.2,
            common_min_docs: 1_000,
            fuzzy_min_chars: 5,
            fuzzy_max_words: 8,
            fuzzy_max_expansions: 3,
        }
    }
}

/// Tuning knobs for [`EmbeddedIndex::open_with`].
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Indexing threads inside tantivy's writer.
    pub writer_threads: usize,
    /// Total indexing memory budget; a segment is flushed when a thread's share fills.
    pub writer_memory_bytes: usize,
    /// Threads that run queries (see [`pool`]); one per core by default.
    pub search_threads: usize,
    pub ranking: Ranking,
    /// How much lower than the rest of the process the writer and the threads it starts
    /// (tantivy's indexing, merging and compressing threads) run: a `nice` increment, 0 for none.
    /// Indexing is background work; when a burst of changes (a bulk approval, an import) arrives,
    /// queries, bids and notifications come first and the index catches up with what is left. A
    /// commit at 10 changes/s needs little CPU, so the freshness goal still holds.
    pub writer_nice: i32,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = cores.clamp(1, 4);
        EmbeddedOptions {
            writer_threads: threads,
            writer_memory_bytes: threads * 64_000_000,
            search_threads: cores,
            ranking: Ranking::default(),
            writer_nice: 5,
        }
    }
}

#[derive(Clone, Copy)]
struct Fields {
    listing_id: Field,
    title: Field,
    summary: Field,
    description: Field,
    keywords: Field,
    institute_name: Field,
    title_grams: Field,
    body_grams: Field,
    kind: Field,
    discipline: Field,
    transfer_mode: Field,
    institute_id: Field,
    region: Field,
    auction: Field,
    lang: Field,
    trl: Field,
    price: Field,
    ends_at: Field,
    published_at: Field,
    doc: Field,
}

/// Fast-field names used by sorts and facets.
const F_PUBLISHED: &str = "published_at";
const F_PRICE: &str = "price";
const F_ENDS: &str = "ends_at";
const STR_FACETS: [&str; 4] = ["kind", "discipline", "transfer_mode", "region"];

fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = || {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let grams = || {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(GRAMS_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
    };
    let f = Fields {
        listing_id: b.add_text_field("listing_id", STRING | FAST),
        title: b.add_text_field("title", text()),
        summary: b.add_text_field("summary", text()),
        description: b.add_text_field("description", text()),
        keywords: b.add_text_field("keywords", text()),
        institute_name: b.add_text_field("institute_name", text()),
        title_grams: b.add_text_field("title_grams", grams()),
        body_grams: b.add_text_field("body_grams", grams()),
        kind: b.add_text_field("kind", STRING | FAST),
        discipline: b.add_text_field("discipline", STRING | FAST),
        transfer_mode: b.add_text_field("transfer_mode", STRING | FAST),
        institute_id: b.add_text_field("institute_id", STRING | FAST),
        region: b.add_text_field("region", STRING | FAST),
        auction: b.add_text_field("auction", STRING | FAST),
        lang: b.add_text_field("lang", STRING | FAST),
        trl: b.add_u64_field("trl", INDEXED | FAST),
        price: b.add_i64_field(F_PRICE, INDEXED | FAST),
        ends_at: b.add_i64_field(F_ENDS, INDEXED | FAST),
        published_at: b.add_i64_field(F_PUBLISHED, INDEXED | FAST),
        doc: b.add_text_field("doc", STORED),
    };
    (b.build(), f)
}

/// Stored documents are compressed with lz4, tantivy's default. zstd shrank the index by about a
/// fifth but cost more than everything else in a query together: each fetched hit decompresses
/// its block with a freshly created zstd context (`ZSTD_createDCtx` was 31% of the query CPU in a
/// profile of the bench-search mix), and a page has twenty hits.
///
/// Blocks are 4 KiB of documents instead of tantivy's 16 KiB: a page of hits fetches twenty
/// documents from twenty different blocks, and each fetch decompresses its whole block, so a
/// quarter of the block is a quarter of the work (decompression was 7% of the query CPU with
/// 16 KiB blocks). Smaller blocks compress a little worse.
fn settings() -> IndexSettings {
    IndexSettings { docstore_compression: Compressor::Lz4, docstore_blocksize: 4096, ..IndexSettings::default() }
}

fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(TEXT_TOKENIZER, BilingualTokenizer::default());
    manager.register(GRAMS_TOKENIZER, CjkBigramTokenizer);
    manager
}

enum WriteOp {
    Upsert(Vec<ListingDocument>),
    Delete(Vec<ListingId>),
    Clear,
    Compact,
}

struct WriteRequest {
    op: WriteOp,
    reply: oneshot::Sender<Result<(), SearchError>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

/// (searcher generation, documents having each text field)
type FieldCounts = (u64, Arc<HashMap<Field, u64>>);

struct Shared {
    reader: IndexReader,
    f: Fields,
    ranking: Ranking,
    dir: Option<PathBuf>,
    /// Per searcher generation: how many documents have each text field (for BM25).
    field_counts: Mutex<Option<FieldCounts>>,
    facet_values: Mutex<FacetValuesCache>,
    /// Per searcher generation: the typo expansions found for each Latin stem.
    fuzzy_cache: Mutex<FuzzyCache>,
}

/// Typo expansions by stem, for one searcher generation.
///
/// Finding them walks a Levenshtein automaton through four fields' term dictionaries, about a
/// tenth of the CPU of the bench-search query mix, and query words repeat (a few words make up
/// most queries). The answer depends only on the index's terms, so it holds until the next
/// commit; the cache is bounded and emptied when full or stale.
#[derive(Default)]
struct FuzzyCache {
    generation: u64,
    expansions: HashMap<String, Arc<[String]>>,
}

/// Entries kept per generation before the cache starts over.
const FUZZY_CACHE_ENTRIES: usize = 10_000;

/// The embedded tantivy backend. Cheap to share behind an `Arc`; dropping it finishes pending
/// writes and waits for the writer thread.
pub struct EmbeddedIndex {
    shared: Arc<Shared>,
    searches: SearchPool,
    tx: Option<mpsc::Sender<WriteRequest>>,
    writer_thread: Option<JoinHandle<()>>,
}

impl EmbeddedIndex {
    /// Opens the index in `dir`, creating it if absent. An index written with another schema or
    /// analyzer version, or another document compression, is refused with
    /// [`SearchError::SchemaMismatch`].
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        Self::open_with(dir, EmbeddedOptions::default())
    }

    pub fn open_with(dir: &Path, options: EmbeddedOptions) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(SearchError::backend)?;
        let directory = MmapDirectory::open(dir).map_err(SearchError::backend)?;
        let (schema, f) = build_schema();
        let index = IndexBuilder::new()
            .schema(schema)
            .settings(settings())
            .tokenizers(tokenizers())
            .open_or_create(directory)
            .map_err(|e| match e {
                TantivyError::SchemaError(_) => SearchError::SchemaMismatch,
                e => SearchError::from(e),
            })?;
        // Segments are written with the settings the index was created with; an index of an
        // earlier version with another document compression is rebuilt rather than kept slow.
        if index.settings().docstore_compression != settings().docstore_compression {
            return Err(SearchError::SchemaMismatch);
        }
        Self::start(index, f, options, Some(dir.to_path_buf()))
    }

    /// A throw-away index in memory (tests, tools).
    pub fn in_memory() -> Result<Self, SearchError> {
        Self::in_memory_with(EmbeddedOptions {
            writer_threads: 1,
            writer_memory_bytes: 32_000_000,
            ..Default::default()
        })
    }

    pub fn in_memory_with(options: EmbeddedOptions) -> Result<Self, SearchError> {
        let (schema, f) = build_schema();
        let index = IndexBuilder::new().schema(schema).settings(settings()).tokenizers(tokenizers()).create_in_ram()?;
        Self::start(index, f, options, None)
    }

    fn start(index: Index, f: Fields, options: EmbeddedOptions, dir: Option<PathBuf>) -> Result<Self, SearchError> {
        analysis::warm_up();
        let reader: IndexReader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let (tx, rx) = mpsc::channel();
        let thread_reader = Clone::clone(&reader);
        // The writer is created on its own thread, after that thread's priority is lowered:
        // tantivy's threads start from it and inherit the priority.
        let (created, creation) = mpsc::sync_channel(1);
        let writer_thread = std::thread::Builder::new()
            .name("achex-search-writer".into())
            .spawn(move || {
                lower_thread_priority(options.writer_nice);
                match index.writer_with_num_threads(options.writer_threads.max(1), options.writer_memory_bytes) {
                    Ok(writer) => {
                        let _ = created.send(Ok(()));
                        writer_loop(writer, thread_reader, f, rx);
                    }
                    Err(e) => {
                        let _ = created.send(Err(e));
                    }
                }
            })
            .map_err(SearchError::backend)?;
        creation.recv().map_err(SearchError::backend)??;
        Ok(EmbeddedIndex {
            shared: Arc::new(Shared {
                reader,
                f,
                ranking: options.ranking,
                dir,
                field_counts: Mutex::new(None),
                fuzzy_cache: Mutex::new(FuzzyCache::default()),
                facet_values: Mutex::default(),
            }),
            tx: Some(tx),
            writer_thread: Some(writer_thread),
            searches: SearchPool::start(options.search_threads)?,
        })
    }

    async fn write(&self, op: WriteOp) -> Result<(), SearchError> {
        let (reply, rx) = oneshot::channel();
        let closed = || SearchError::Unavailable("the index writer has stopped".into());
        self.tx.as_ref().ok_or_else(closed)?.send(WriteRequest { op, reply }).map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// [`SearchIndex::search`] without the hop to the blocking pool, for in-process benchmarks
    /// and tools that are not async.
    pub fn search_blocking(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        query.validate()?;
        self.shared.search(query)
    }

    /// The ranking this index uses.
    pub fn ranking(&self) -> Ranking {
        self.shared.ranking
    }
}

impl Drop for EmbeddedIndex {
    fn drop(&mut self) {
        // Closing the channel ends the writer loop after the queued requests.
        self.tx.take();
        if let Some(handle) = self.writer_thread.take() {
            let _ = handle.join();
        }
    }
}

/// Requests that arrive while one commit runs are committed together, up to this many.
const MAX_GROUP: usize = 256;

/// Lowers the calling thread's CPU priority by `nice` (Linux keeps a `nice` value per thread, and
/// threads inherit their creator's). Without the permission or on another system the thread keeps
/// its priority: only the order in which busy work is served depends on it.
fn lower_thread_priority(nice: i32) {
    if nice <= 0 || !cfg!(target_os = "linux") {
        return;
    }
    let thread = rustix::thread::gettid();
    let lowered = rustix::process::getpriority_process(Some(thread))
        .and_then(|now| rustix::process::setpriority_process(Some(thread), now.saturating_add(nice).min(19)));
    if let Err(e) = lowered {
        tracing::debug!(error = %e, "the search writer keeps its CPU priority");
    }
}

fn writer_loop(
    mut writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    f: Fields,
    rx: mpsc::Receiver<WriteRequest>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<Result<(), SearchError>> = batch.iter().map(|r| apply(&mut writer, &f, &r.op)).collect();
        if let Err(e) = writer.commit().and_then(|_| reader.reload()) {
            tracing::error!(error = %e, "search index commit failed; rolling back");
            let rolled_back = writer.rollback();
            for req in batch {
                let _ = req.reply.send(Err(SearchError::backend(Message(format!("commit failed: {e}")))));
            }
            if let Err(e) = rolled_back {
                // A failed rollback leaves the writer without its directory lock (the index
                // folder is gone or unwritable); calling it again would panic. Refuse every
                // later write instead: the outbox keeps them for a restart or `achex reindex`.
                tracing::error!(error = %e, "search index rollback failed; the index refuses writes until restart");
                while let Ok(req) = rx.recv() {
                    let _ = req.reply.send(Err(SearchError::backend(Message(format!("index unusable: {e}")))));
                }
                return;
            }
            continue;
        }
        // Compaction runs after the commit, so its failure concerns only who asked for it.
        if batch.iter().any(|r| matches!(r.op, WriteOp::Compact))
            && let Err(e) = merge_all(&mut writer).and_then(|_| reader.reload())
        {
            tracing::warn!(error = %e, "search index compaction failed");
            for (req, outcome) in batch.iter().zip(outcomes.iter_mut()) {
                if matches!(req.op, WriteOp::Compact) {
                    *outcome = Err(SearchError::backend(Message(format!("compaction failed: {e}"))));
                }
            }
        }
        for (req, outcome) in batch.into_iter().zip(outcomes) {
            let _ = req.reply.send(outcome);
        }
    }
    if let Err(e) = writer.wait_merging_threads() {
        tracing::warn!(error = %e, "search index merge did not finish cleanly");
    }
}

/// Merges every segment into one and deletes the files the merge made obsolete.
///
/// Tantivy's own merge policy keeps merging in the background; when one of its merges takes a
/// segment we listed, ours is refused, so we list again after a short pause (on this dedicated
/// writer thread) until one segment is left.
fn merge_all(writer: &mut IndexWriter<TantivyDocument>) -> tantivy::Result<()> {
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
    const ATTEMPTS: u32 = 3_000; // a minute of background merging
    let mut attempt = 0;
    loop {
        let ids = writer.index().searchable_segment_ids()?;
        if ids.len() <= 1 {
            break;
        }
        match writer.merge(&ids).wait() {
            Ok(_) => {}
            Err(_) if attempt < ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(PAUSE);
            }
            Err(e) => return Err(e),
        }
    }
    writer.garbage_collect_files().wait()?;
    Ok(())
}

fn apply(writer: &mut IndexWriter<TantivyDocument>, f: &Fields, op: &WriteOp) -> Result<(), SearchError> {
    match op {
        WriteOp::Upsert(docs) => {
            for d in docs {
                writer.delete_term(Term::from_field_text(f.listing_id, &d.listing_id.to_string()));
                writer.add_document(to_tantivy(f, d)?)?;
            }
        }
        WriteOp::Delete(ids) => {
            for id in ids {
                writer.delete_term(Term::from_field_text(f.listing_id, &id.to_string()));
            }
        }
        WriteOp::Clear => {
            writer.delete_all_documents()?;
        }
        // Merged after this batch's commit, in `writer_loop`.
        WriteOp::Compact => {}
    }
    Ok(())
}

fn to_tantivy(f: &Fields, d: &ListingDocument) -> Result<TantivyDocument, SearchError> {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.listing_id, d.listing_id.to_string());
    for (_, t) in d.title.versions() {
        doc.add_text(f.title, t);
        doc.add_text(f.title_grams, t);
    }
    for (_, t) in d.summary.versions() {
        doc.add_text(f.summary, t);
        doc.add_text(f.body_grams, t);
    }
    for (_, t) in d.description.versions() {
        doc.add_text(f.description, t);
        doc.add_text(f.body_grams, t);
    }
    for k in d.keywords.iter().filter(|k| !k.trim().is_empty()) {
        doc.add_text(f.keywords, k);
        doc.add_text(f.body_grams, k);
    }
    if !d.institute_name.trim().is_empty() {
        doc.add_text(f.institute_name, &d.institute_name);
        doc.add_text(f.body_grams, &d.institute_name);
    }
    for (field, value) in [(f.kind, &d.kind), (f.discipline, &d.discipline), (f.region, &d.region)] {
        if !value.is_empty() {
            doc.add_text(field, value);
        }
    }
    for m in d.transfer_modes.iter().filter(|m| !m.is_empty()) {
        doc.add_text(f.transfer_mode, m);
    }
    doc.add_text(f.institute_id, d.institute_id.to_string());
    doc.add_text(f.auction, d.auction.as_str());
    for l in d.langs() {
        doc.add_text(f.lang, l.code());
    }
    doc.add_u64(f.trl, u64::from(d.trl));
    if let Some(p) = d.price {
        doc.add_i64(f.price, p.amount);
    }
    if let Some(t) = d.auction_ends_at {
        doc.add_i64(f.ends_at, t.timestamp_millis());
    }
    doc.add_i64(f.published_at, d.published_at.timestamp_millis());
    doc.add_text(f.doc, serde_json::to_string(d).map_err(SearchError::backend)?);
    Ok(doc)
}

impl Shared {
    fn stored_document(&self, searcher: &Searcher, addr: DocAddress) -> Result<ListingDocument, SearchError> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let json = doc.get_first(self.f.doc).and_then(|v| v.as_str()).unwrap_or_default();
        serde_json::from_str(json).map_err(SearchError::backend)
    }

    fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let started = Instant::now();
        let searcher = self.reader.searcher();
        let qa = analyze_query(&q.text);
        let (text_query, expansions) = self.text_query(&searcher, &qa, Expansions { fuzzy: true, bigrams: true });
        let has_text = text_query.is_some();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(t) = text_query {
            clauses.push((Occur::Must, t));
        }
        clauses.extend(self.filter_clauses(&q.filters).into_iter().map(|c| (Occur::Must, c)));
        let query: Box<dyn Query> =
            if clauses.is_empty() { Box::new(AllQuery) } else { Box::new(BooleanQuery::new(clauses)) };

        let top =
            TopDocs::with_limit(q.per_page as usize).and_offset(q.offset()).tweak_score(sort_key(q.sort, has_text));
        let docs_with_field = self.docs_with_field(&searcher);
        let stats = FieldLengthStats { searcher: &searcher, docs_with_field: &docs_with_field };
        let (top, (facets, total)) = searcher.search_with_statistics_provider(
            &*query,
            &(top, FacetCollector { values: self.facet_values(&searcher) }),
            &stats,
        )?;

        let spec = HighlightSpec::from_analysis(&qa, expansions);
        let preferred = q.filters.lang.or_else(|| qa.language());
        let mut hits = Vec::with_capacity(top.len());
        for ((_, score), addr) in top {
            let d = self.stored_document(&searcher, addr)?;
            let highlights = build_highlights(&spec, &d, preferred);
            hits.push(Hit { listing_id: d.listing_id, score, highlights, document: Some(Box::new(d)) });
        }
        Ok(SearchResults { hits, facets, total, took_ms: started.elapsed().as_millis() as u64 })
    }

    fn find(&self, searcher: &Searcher, id: ListingId) -> Result<Option<DocAddress>, SearchError> {
        let q = TermQuery::new(Term::from_field_text(self.f.listing_id, &id.to_string()), IndexRecordOption::Basic);
        Ok(searcher.search(&q, &TopDocs::with_limit(1).order_by_score())?.first().map(|(_, a)| *a))
    }

    fn similar(&self, id: ListingId, limit: usize) -> Result<Vec<Hit>, SearchError> {
        let searcher = self.reader.searcher();
        let addr = self.find(&searcher, id)?.ok_or(SearchError::NotFound(id))?;
        let d = self.stored_document(&searcher, addr)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The listing's own title, keywords and summary as a bag of words, keeping the terms that
        // say most about it (highest idf).
        let mut text = String::new();
        for t in [&d.title, &d.summary] {
            for (_, v) in t.versions() {
                text.push_str(v);
                text.push('\n');
            }
        }
        for k in &d.keywords {
            text.push_str(k);
            text.push('\n');
        }
        // A quoted word in a title is not a phrase the neighbours must contain.
        let mut qa = analyze_query(&without_quotes(&text));
        qa.synonyms.clear();
        qa.bridges.clear();
        let n = searcher.num_docs().max(1) as f32;
        let idf = |t: &str| {
            let df = searcher.doc_freq(&Term::from_field_text(self.f.description, t)).unwrap_or(0)
                + searcher.doc_freq(&Term::from_field_text(self.f.title, t)).unwrap_or(0);
            (n / (df as f32 + 1.0)).ln()
        };
        const MAX_TERMS: usize = 25;
        let mut latin: Vec<(f32, _)> = qa.latin.drain(..).map(|t| (idf(&t.stem) * t.count as f32, t)).collect();
        let mut cjk: Vec<(f32, _)> = qa.cjk.drain(..).map(|t| (idf(&t.word) * t.count as f32, t)).collect();
        latin.sort_by(|a, b| b.0.total_cmp(&a.0));
        cjk.sort_by(|a, b| b.0.total_cmp(&a.0));
        qa.latin = latin.into_iter().take(MAX_TERMS).map(|(_, t)| t).collect();
        qa.cjk = cjk.into_iter().take(MAX_TERMS).map(|(_, t)| t).collect();
        let (Some(text_query), _) = self.text_query(&searcher, &qa, Expansions { fuzzy: false, bigrams: false }) else {
            return Ok(Vec::new());
        };
        let own = TermQuery::new(Term::from_field_text(self.f.listing_id, &id.to_string()), IndexRecordOption::Basic);
        let query = BooleanQuery::new(vec![(Occur::Must, text_query), (Occur::MustNot, Box::new(own))]);
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        top.into_iter()
            .map(|(score, addr)| {
                let d = self.stored_document(&searcher, addr)?;
                Ok(Hit { listing_id: d.listing_id, score, highlights: BTreeMap::new(), document: Some(Box::new(d)) })
            })
            .collect()
    }

    fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let len = prefix.chars().count();
        if len > MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong { len, max: MAX_QUERY_CHARS });
        }
        let limit = limit.min(MAX_PER_PAGE as usize);
        let runs = analysis::runs(prefix);
        if runs.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        // The last word is still being typed unless a separator follows it.
        let typing = prefix.chars().last().is_some_and(char::is_alphanumeric);
        let f = &self.f;
        let mut stemmer = WordStemmer::default();
        let mut spec = HighlightSpec::default();
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            let last = typing && i + 1 == runs.len();
            match run.kind {
                analysis::RunKind::Word => {
                    let normalized = analysis::normalize_word(run.text);
                    let stem = stemmer.stem(&normalized);
                    if last {
                        let mut c: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                        for (t, d) in [(&normalized, 0), (&stem, 0), (&normalized, 1)] {
                            if d == 1 && normalized.chars().count() < self.ranking.fuzzy_min_chars {
                                continue;
                            }
                            let q = FuzzyTermQuery::new_prefix(Term::from_field_text(f.title, t), d, true);
                            c.push((
                                Occur::Should,
                                Box::new(BoostQuery::new(Box::new(q), if d == 0 { 1.0 } else { 0.5 })),
                            ));
                        }
                        must.push((Occur::Must, Box::new(BooleanQuery::new(c))));
                        spec.prefixes.push(normalized);
                    } else {
                        must.push((Occur::Must, boxed_term(f.title, &stem, 1.0)));
                        spec.terms.insert(stem);
                    }
                }
                analysis::RunKind::Cjk => {
                    let grams: Vec<String> =
                        analysis::bigrams(run.text).into_iter().map(|(g, _, _)| g.to_string()).collect();
                    let q: Box<dyn Query> = if grams.len() == 1 && grams[0].chars().count() == 1 {
                        Box::new(FuzzyTermQuery::new_prefix(Term::from_field_text(f.title_grams, &grams[0]), 0, false))
                    } else if grams.len() == 1 {
                        boxed_term(f.title_grams, &grams[0], 1.0)
                    } else {
                        Box::new(PhraseQuery::new(
                            grams.iter().map(|g| Term::from_field_text(f.title_grams, g)).collect(),
                        ))
                    };
                    must.push((Occur::Must, q));
                    spec.add_cjk(run.text);
                }
            }
        }
        let searcher = self.reader.searcher();
        let query = BooleanQuery::new(must);
        let top = searcher.search(&query, &TopDocs::with_limit(limit).tweak_score(sort_key(Sort::Relevance, true)))?;
        let mut out = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let d = self.stored_document(&searcher, addr)?;
            let (text, ranges) = best_version(&spec, &d.title, None);
            if let Some(text) = text {
                out.push(Suggestion {
                    listing_id: d.listing_id,
                    highlighted: render(text, &ranges, 200),
                    text: text.to_string(),
                });
            }
        }
        Ok(out)
    }

    fn stats(&self) -> Result<IndexStats, SearchError> {
        let size_bytes = self.dir.as_deref().map(dir_size);
        Ok(IndexStats { backend: "embedded".into(), documents: self.reader.searcher().num_docs(), size_bytes })
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[async_trait]
impl SearchIndex for EmbeddedIndex {
    // `compact` merges the index into one segment: smaller on disk and faster to search. It
    // rewrites the whole index, so it is for the end of a bulk load, not for every update;
    // searches keep being served meanwhile.
    async fn upsert(&self, docs: Vec<ListingDocument>) -> Result<(), SearchError> {
        for d in &docs {
            d.validate()?;
        }
        if docs.is_empty() {
            return Ok(());
        }
        self.write(WriteOp::Upsert(docs)).await
    }

    async fn delete(&self, ids: Vec<ListingId>) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(WriteOp::Delete(ids)).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        query.validate()?;
        let (shared, query) = (self.shared.clone(), query.clone());
        self.searches.run(move || shared.search(&query)).await
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let (shared, prefix) = (self.shared.clone(), prefix.to_string());
        self.searches.run(move || shared.suggest(&prefix, limit)).await
    }

    async fn similar(&self, listing_id: ListingId, limit: usize) -> Result<Vec<Hit>, SearchError> {
        let shared = self.shared.clone();
        self.searches.run(move || shared.similar(listing_id, limit.min(MAX_PER_PAGE as usize))).await
    }

    async fn stats(&self) -> Result<IndexStats, SearchError> {
        self.shared.stats()
    }

    async fn clear(&self) -> Result<(), SearchError> {
        self.write(WriteOp::Clear).await
    }

    async fn compact(&self) -> Result<(), SearchError> {
        self.write(WriteOp::Compact).await
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The `nice` value in a `/proc/…/stat` line (its 19th field; the name in brackets may hold
    /// spaces, so fields are counted after its closing bracket).
    fn nice_in(stat: &str) -> i64 {
        let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
        after_name.split(' ').nth(16).and_then(|n| n.parse().ok()).expect("the nice field")
    }

    /// The `nice` values of this process's threads whose name starts with `prefix`.
    fn nice_of_threads(prefix: &str) -> Vec<i64> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if name.starts_with(prefix) {
                found.push(nice_in(&std::fs::read_to_string(task.path().join("stat")).unwrap_or_default()));
            }
        }
        found
    }

    #[test]
    fn the_writer_and_the_tantivy_threads_it_starts_run_below_the_callers_priority() {
        let own = nice_in(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
        let _index = EmbeddedIndex::in_memory_with(EmbeddedOptions {
            writer_threads: 1,
            writer_memory_bytes: 32_000_000,
            writer_nice: 5,
            ..Default::default()
        })
        .unwrap();
        let lowered = (own + 5).min(19);
        // A thread shows its creator's name until it has run and named itself, so tantivy's
        // workers may still be listed under the writer's name: count both.
        let writer = nice_of_threads("achex-search-wr");
        let tantivy = nice_of_threads("thrd-tantivy");
        assert!(writer.len() + tantivy.len() >= 2, "the writer and tantivy's indexing thread: {writer:?} {tantivy:?}");
        assert!(
            writer.iter().chain(&tantivy).all(|n| *n == lowered),
            "writer {writer:?}, tantivy {tantivy:?}, own {own}"
        );
        assert!(nice_of_threads("achex-search-0").iter().all(|n| *n == own), "queries keep the caller's priority");
    }
}
