//! What only the embedded backend promises: it lives in a directory, survives a restart, refuses
//! an index written with another schema, and batches concurrent writers into shared commits.

use std::sync::Arc;

use achex_core::{LangText, ListingId, OrganizationId};
use achex_search::*;
use chrono::{TimeZone, Utc};
use uuid::Uuid;

fn doc(n: u128, title: &str) -> ListingDocument {
    ListingDocument {
        listing_id: ListingId::from(Uuid::from_u128(n)),
        title: LangText::en(title),
        summary: LangText::zh("测试摘要"),
        description: LangText::default(),
        keywords: vec![],
        kind: "know_how".into(),
        discipline: "test".into(),
        trl: 5,
        transfer_modes: vec!["assignment".into()],
        institute_id: OrganizationId::from(Uuid::from_u128(7)),
        institute_name: "测试研究所".into(),
        region: "北京".into(),
        price: None,
        auction: AuctionState::None,
        auction_ends_at: None,
        published_at: Utc.timestamp_opt(1_780_000_000 + n as i64, 0).single().expect("valid time"),
    }
}

#[tokio::test]
async fn a_reopened_index_still_has_what_was_written_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let index = EmbeddedIndex::open(dir.path()).expect("open");
        index
            .upsert(vec![doc(1, "Ceramic membrane reactor"), doc(2, "Solid oxide electrolyser")])
            .await
            .expect("upsert");
        index.delete(vec![ListingId::from(Uuid::from_u128(2))]).await.expect("delete");
    }
    let index = EmbeddedIndex::open(dir.path()).expect("reopen");
    let r = index.search(&SearchQuery::text("membrane")).await.expect("search");
    assert_eq!(r.hits.iter().map(|h| h.listing_id.as_uuid().as_u128()).collect::<Vec<_>>(), vec![1]);
    let stats = index.stats().await.expect("stats");
    assert_eq!(stats.documents, 1);
    assert!(stats.size_bytes.is_some_and(|b| b > 0));
}

#[tokio::test]
async fn an_index_written_with_another_schema_is_refused_rather_than_misread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut builder = tantivy::schema::Schema::builder();
    builder.add_text_field("something_else", tantivy::schema::TEXT);
    tantivy::Index::create_in_dir(dir.path(), builder.build()).expect("foreign index");
    assert!(matches!(EmbeddedIndex::open(dir.path()), Err(SearchError::SchemaMismatch)));
}

#[tokio::test]
async fn an_index_stored_with_another_document_compression_is_refused_so_it_gets_rebuilt() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(EmbeddedIndex::open(dir.path()).expect("create"));
    let meta = dir.path().join("meta.json");
    let text = std::fs::read_to_string(&meta).expect("meta.json");
    let lz4 = r#""docstore_compression": "lz4""#;
    assert!(text.contains(lz4), "{text}");
    std::fs::write(&meta, text.replace(lz4, r#""docstore_compression": "zstd""#)).expect("rewrite meta.json");
    assert!(matches!(EmbeddedIndex::open(dir.path()), Err(SearchError::SchemaMismatch)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_all_applied_and_visible_when_they_return() {
    let index = Arc::new(EmbeddedIndex::in_memory().expect("index"));
    let mut tasks = Vec::new();
    for n in 1..=40u128 {
        let index = index.clone();
        tasks.push(tokio::spawn(async move {
            index.upsert(vec![doc(n, &format!("Listing number {n} about sensors"))]).await.expect("upsert");
            // Read-your-write: this writer's own listing is searchable as soon as upsert returns.
            let r = index.search(&SearchQuery::text(format!("number {n}"))).await.expect("search");
            assert!(r.hits.iter().any(|h| h.listing_id.as_uuid().as_u128() == n), "listing {n} not visible");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(index.stats().await.expect("stats").documents, 40);
}

#[tokio::test]
async fn the_blocking_search_gives_the_same_answer_as_the_async_one() {
    let index = EmbeddedIndex::in_memory().expect("index");
    index.upsert((1..=5).map(|n| doc(n, "Graphene heat spreader")).collect()).await.expect("upsert");
    let q = SearchQuery::text("graphene");
    let a = index.search(&q).await.expect("async");
    let b = index.search_blocking(&q).expect("blocking");
    assert_eq!(a.hits, b.hits);
    assert_eq!(a.total, 5);
}

#[tokio::test]
async fn compaction_merges_segments_without_changing_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = EmbeddedIndex::open(dir.path()).expect("open");
    for n in 1..=6 {
        // One commit each: six segments before compaction.
        index.upsert(vec![doc(n, &format!("Thermal storage unit {n}"))]).await.expect("upsert");
    }
    index.delete(vec![ListingId::from(Uuid::from_u128(3))]).await.expect("delete");
    let before = index.search(&SearchQuery::text("thermal storage")).await.expect("search");
    index.compact().await.expect("compact");
    let after = index.search(&SearchQuery::text("thermal storage")).await.expect("search");
    assert_eq!(before.total, 5);
    assert_eq!(after.total, 5);
    let ids = |r: &SearchResults| r.hits.iter().map(|h| h.listing_id).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(ids(&before), ids(&after));
    let segments = tantivy::Index::open_in_dir(dir.path()).expect("raw open").searchable_segment_ids().expect("ids");
    assert_eq!(segments.len(), 1);
}

/// Meilisearch has no stemming, so this is the embedded index's promise only.
#[tokio::test]
async fn english_words_match_their_other_inflections() {
    let index = EmbeddedIndex::in_memory().expect("index");
    index
        .upsert(vec![doc(1, "Battery charging station"), doc(2, "Detects plant diseases"), doc(3, "Solar roof")])
        .await
        .expect("upsert");
    let ids = |r: SearchResults| r.hits.iter().map(|h| h.listing_id.as_uuid().as_u128()).collect::<Vec<_>>();
    assert_eq!(ids(index.search(&SearchQuery::text("batteries charged")).await.expect("search")), vec![1]);
    assert_eq!(ids(index.search(&SearchQuery::text("detecting disease")).await.expect("search")), vec![2]);
}

#[tokio::test]
async fn quotes_in_a_listing_title_do_not_turn_similar_into_a_phrase_search() {
    let index = EmbeddedIndex::in_memory().expect("index");
    index
        .upsert(vec![
            doc(1, "The \"smart\" grid controller"),
            doc(2, "Grid controller for microgrids"),
            doc(3, "Solar roof"),
        ])
        .await
        .expect("upsert");
    let similar = index.similar(ListingId::from(Uuid::from_u128(1)), 5).await.expect("similar");
    let ids: Vec<u128> = similar.iter().map(|h| h.listing_id.as_uuid().as_u128()).collect();
    // Listing 2 has no "smart": were the quotes read as a phrase, nothing would be found.
    assert_eq!(ids.first(), Some(&2), "{ids:?}");
    assert!(!ids.contains(&1));
}

#[tokio::test]
async fn an_index_whose_folder_vanished_refuses_writes_instead_of_crashing() {
    // A panic on the writer thread would also fail the writes (its reply channel drops), so the
    // test watches for the panic itself.
    static WRITER_PANICKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("achex-search-writer") {
            WRITER_PANICKED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        previous(info);
    }));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("index");
    let index = EmbeddedIndex::open(&path).expect("open");
    index.upsert(vec![doc(1, "Ceramic membrane reactor")]).await.expect("upsert");
    std::fs::remove_dir_all(&path).expect("remove the index folder");
    // The first failure rolls back, and the rollback cannot lock the folder again; later writes
    // must be answered with an error by a writer that is still there.
    for n in 2..5 {
        assert!(index.upsert(vec![doc(n, "Solid oxide electrolyser")]).await.is_err(), "write {n} is refused");
    }
    assert!(!WRITER_PANICKED.load(std::sync::atomic::Ordering::SeqCst), "the writer thread panicked");
}

#[tokio::test]
async fn a_chinese_character_typed_alone_finds_the_listings_with_words_it_starts() {
    let index = EmbeddedIndex::in_memory().expect("index");
    let mut lithium = doc(1, "x");
    lithium.title = LangText::zh("一种高能量密度锂离子电池正极材料");
    let mut membrane = doc(2, "y");
    membrane.title = LangText::zh("离子交换膜的制备方法");
    index.upsert(vec![lithium, membrane]).await.expect("upsert");
    let found = async |q: &str| {
        let r = index.search(&SearchQuery::text(q)).await.expect("search");
        r.hits.iter().map(|h| h.listing_id.as_uuid().as_u128()).collect::<Vec<_>>()
    };
    assert_eq!(found("锂").await, vec![1], "锂 sits inside 锂离子");
    assert_eq!(found("膜").await, vec![2]);
    // Typed as part of a longer run, a character is matched through the run's bigrams, so 锂离
    // does not reach 离子交换膜 through 离.
    assert_eq!(found("锂离").await, vec![1]);
}
