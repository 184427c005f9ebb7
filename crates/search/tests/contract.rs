//! The contract of the search port, run against every backend: the embedded index always, and
//! Meilisearch when `MEILISEARCH_URL` (and optionally `MEILISEARCH_API_KEY`) is set.
//!
//! The corpus is small, hand-written and fixed (Chinese, English, bilingual), so every
//! expectation is exact and both backends must meet it. Writes are awaited (each backend
//! promises read-your-write), so there is no sleeping anywhere.

use std::collections::BTreeSet;
use std::sync::Once;

use achex_core::{LangText, ListingId, Money, OrganizationId};
use achex_search::*;
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

fn id(n: u128) -> ListingId {
    ListingId::from(Uuid::from_u128(n))
}

fn num(id: ListingId) -> u128 {
    id.as_uuid().as_u128()
}

fn institute(n: u128) -> OrganizationId {
    OrganizationId::from(Uuid::from_u128(1_000 + n))
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().expect("valid date")
}

const WAN: i64 = 10_000 * 100; // 万元 in fen

#[allow(clippy::too_many_arguments)]
fn listing(
    n: u128,
    title: LangText,
    summary: LangText,
    keywords: &[&str],
    kind: &str,
    discipline: &str,
    trl: u8,
    modes: &[&str],
    region: &str,
    price_wan: Option<i64>,
    auction: (AuctionState, Option<DateTime<Utc>>),
    published: DateTime<Utc>,
) -> ListingDocument {
    ListingDocument {
        listing_id: id(n),
        title,
        summary,
        description: LangText::default(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        kind: kind.into(),
        discipline: discipline.into(),
        trl,
        transfer_modes: modes.iter().map(|m| m.to_string()).collect(),
        institute_id: institute(n % 3),
        institute_name: ["清华大学", "中国科学院", "Zhejiang University"][(n % 3) as usize].into(),
        region: region.into(),
        price: price_wan.map(|p| Money::cny(p * WAN)),
        auction: auction.0,
        auction_ends_at: auction.1,
        published_at: published,
    }
}

fn zh(s: &str) -> LangText {
    LangText::zh(s)
}
fn en(s: &str) -> LangText {
    LangText::en(s)
}
fn both(z: &str, e: &str) -> LangText {
    LangText { zh: Some(z.into()), en: Some(e.into()) }
}

const NONE: (AuctionState, Option<DateTime<Utc>>) = (AuctionState::None, None);

fn corpus() -> Vec<ListingDocument> {
    use AuctionState::{Live, Upcoming};
    vec![
        listing(
            1,
            zh("高能量密度锂离子电池正极材料"),
            zh("一种用于锂离子电池的高镍三元正极材料及其制备方法"),
            &["锂离子电池", "正极材料"],
            "invention_patent",
            "材料科学",
            6,
            &["exclusive_license", "assignment"],
            "江苏",
            Some(500),
            NONE,
            at(2026, 1, 1),
        ),
        listing(
            2,
            zh("质子交换膜燃料电池电堆"),
            zh("车用燃料电池电堆的双极板设计"),
            &["燃料电池", "双极板"],
            "utility_model",
            "能源",
            7,
            &["assignment"],
            "上海",
            Some(300),
            (Live, Some(at(2026, 12, 1))),
            at(2026, 1, 2),
        ),
        listing(
            3,
            zh("基于人工智能的医学影像识别系统"),
            zh("利用深度学习识别肺部CT影像中的结节"),
            &["人工智能", "医学影像"],
            "software_copyright",
            "计算机",
            5,
            &["non_exclusive_license"],
            "北京",
            Some(80),
            (Upcoming, Some(at(2026, 12, 20))),
            at(2026, 1, 3),
        ),
        listing(
            4,
            zh("工人安全帽佩戴检测装置"),
            zh("施工现场人员安全监测"),
            &["安全帽"],
            "utility_model",
            "安全工程",
            8,
            &["assignment"],
            "北京",
            None,
            NONE,
            at(2026, 1, 4),
        ),
        listing(
            5,
            en("Silicon anode coating for lithium-ion battery cells"),
            en("A cathode and anode coating process that improves the cycle life of Li-ion batteries."),
            &["battery", "coating"],
            "invention_patent",
            "materials",
            4,
            &["exclusive_license"],
            "广东",
            Some(120),
            (Live, Some(at(2026, 11, 30))),
            at(2026, 1, 5),
        ),
        listing(
            6,
            en("Deep learning model for crop disease detection"),
            en("Artificial intelligence detects plant diseases from leaf photos."),
            &["machine learning", "agriculture"],
            "software_copyright",
            "computer science",
            6,
            &["non_exclusive_license", "joint_development"],
            "浙江",
            Some(40),
            NONE,
            at(2026, 1, 6),
        ),
        listing(
            7,
            both("钙钛矿太阳能电池", "Perovskite solar cells"),
            both("高效稳定的钙钛矿光伏器件", "Efficient and stable perovskite photovoltaic devices"),
            &["钙钛矿"],
            "invention_patent",
            "能源",
            3,
            &["equity"],
            "江苏",
            Some(200),
            (Upcoming, Some(at(2027, 1, 15))),
            at(2026, 1, 7),
        ),
        listing(
            8,
            en("<script>alert(1)</script> Water purification membrane"),
            en("Graphene oxide membrane for desalination & water purification"),
            &["membrane"],
            "know_how",
            "environment",
            5,
            &["assignment"],
            "山东",
            Some(60),
            NONE,
            at(2026, 1, 8),
        ),
        listing(
            9,
            zh("石墨烯导热膜规模化制备技术"),
            zh("石墨烯薄膜用于手机散热"),
            &["石墨烯", "导热"],
            "know_how",
            "材料科学",
            7,
            &["assignment", "equity"],
            "广东",
            Some(150),
            NONE,
            at(2026, 1, 9),
        ),
        listing(
            10,
            both("废旧锂离子电池回收", "Recycling of spent lithium-ion battery cathodes"),
            zh("从废旧电池正极中回收镍钴锰"),
            &["回收"],
            "invention_patent",
            "环境",
            6,
            &["exclusive_license"],
            "湖南",
            Some(250),
            NONE,
            at(2026, 1, 10),
        ),
        listing(
            11,
            en("Autonomous driving perception with lidar"),
            en("Sensor fusion for self-driving vehicles"),
            &["lidar"],
            "software_copyright",
            "computer science",
            5,
            &["non_exclusive_license"],
            "北京",
            None,
            NONE,
            at(2026, 1, 11),
        ),
        listing(
            12,
            zh("治疗高血压的中药复方制剂"),
            zh("补肾活血汤改善血管内皮功能"),
            &["中药"],
            "other",
            "医学",
            2,
            &["assignment"],
            "四川",
            Some(30),
            NONE,
            at(2026, 1, 12),
        ),
    ]
}

struct Backend {
    name: &'static str,
    index: Box<dyn SearchIndex>,
}

static SKIP_NOTE: Once = Once::new();

/// Every backend available here, empty. `test` names the Meilisearch index so tests never share one.
async fn backends(test: &str) -> Vec<Backend> {
    let mut out =
        vec![Backend { name: "embedded", index: Box::new(EmbeddedIndex::in_memory().expect("embedded index")) }];
    match std::env::var("MEILISEARCH_URL") {
        Ok(url) if !url.is_empty() => {
            let key = std::env::var("MEILISEARCH_API_KEY").ok();
            let name = format!("achex_contract_{test}");
            let meili = MeiliIndex::connect(&url, key.as_deref(), &name).await.expect("Meilisearch reachable");
            meili.clear().await.expect("clear Meilisearch index");
            out.push(Backend { name: "meilisearch", index: Box::new(meili) });
        }
        _ => SKIP_NOTE.call_once(|| eprintln!("note: MEILISEARCH_URL is not set; the Meilisearch backend is skipped")),
    }
    out
}

async fn seeded(test: &str) -> Vec<Backend> {
    let out = backends(test).await;
    for b in &out {
        b.index.upsert(corpus()).await.expect("seed corpus");
    }
    out
}

async fn run(b: &Backend, q: SearchQuery) -> SearchResults {
    b.index.search(&q).await.unwrap_or_else(|e| panic!("{}: search {:?} failed: {e}", b.name, q.text))
}

async fn text(b: &Backend, t: &str) -> Vec<u128> {
    ids(&run(b, SearchQuery::text(t)).await)
}

fn ids(r: &SearchResults) -> Vec<u128> {
    r.hits.iter().map(|h| num(h.listing_id)).collect()
}

fn browse(filters: Filters) -> SearchQuery {
    SearchQuery { filters, sort: Sort::Newest, per_page: 100, ..SearchQuery::default() }
}

fn set(v: &[u128]) -> BTreeSet<u128> {
    v.iter().copied().collect()
}

/// Removes the only markup a highlight may contain; what is left must have no markup at all.
fn assert_safe(name: &str, html: &str) {
    let stripped = html.replace("<mark>", "").replace("</mark>", "");
    assert!(!stripped.contains('<') && !stripped.contains('>'), "{name}: unsafe highlight {html:?}");
}

#[tokio::test]
async fn a_chinese_query_finds_the_word_without_matching_every_listing_that_shares_a_character() {
    for b in seeded("ai_zh").await {
        let hits = text(&b, "人工智能").await;
        assert_eq!(hits.first(), Some(&3), "{}: {hits:?}", b.name);
        assert!(!hits.contains(&4), "{}: 工人/人员 must not match 人工智能: {hits:?}", b.name);
        assert!(!hits.contains(&12), "{}: {hits:?}", b.name);
    }
}

#[tokio::test]
async fn lithium_battery_in_chinese_finds_lithium_ion_battery_listings_first() {
    for b in seeded("li_zh").await {
        let hits = text(&b, "锂电池").await;
        let pos = |n: u128| hits.iter().position(|&h| h == n);
        assert!(pos(1).is_some() && pos(10).is_some(), "{}: {hits:?}", b.name);
        assert!(set(&hits[..2]) == set(&[1, 10]), "{}: 锂离子电池 listings first: {hits:?}", b.name);
        for other in [2, 7] {
            assert!(pos(other).is_none_or(|p| p > pos(1).unwrap()), "{}: fuel/solar cells after: {hits:?}", b.name);
        }
    }
}

#[tokio::test]
async fn a_mixed_language_query_ranks_listings_matching_both_parts_first() {
    for b in seeded("mixed").await {
        let hits = text(&b, "锂电池 cathode").await;
        assert!(hits.len() >= 2, "{}: {hits:?}", b.name);
        assert_eq!(set(&hits[..2]), set(&[5, 10]), "{}: {hits:?}", b.name);
    }
}

#[tokio::test]
async fn the_listing_with_most_of_the_query_words_ranks_first() {
    for b in seeded("words").await {
        let hits = text(&b, "crop diseases detection").await;
        assert_eq!(hits.first(), Some(&6), "{}: {hits:?}", b.name);
        let hits = text(&b, "water membrane graphene").await;
        assert_eq!(hits.first(), Some(&8), "{}: {hits:?}", b.name);
    }
}

#[tokio::test]
async fn a_misspelled_english_word_still_finds_the_listing() {
    for b in seeded("typo").await {
        let hits = text(&b, "perovskte").await;
        assert_eq!(hits.first(), Some(&7), "{}: {hits:?}", b.name);
        let hits = text(&b, "purificaton membrane").await;
        assert_eq!(hits.first(), Some(&8), "{}: {hits:?}", b.name);
    }
}

#[tokio::test]
async fn a_quoted_phrase_matches_only_the_exact_phrase() {
    for b in seeded("phrase").await {
        assert_eq!(text(&b, "\"solar cells\"").await, vec![7], "{}", b.name);
        assert!(text(&b, "\"cells solar\"").await.is_empty(), "{}", b.name);
        assert_eq!(text(&b, "“燃料电池”").await, vec![2], "{}", b.name);
        assert_eq!(text(&b, "\"spent lithium\"").await, vec![10], "{}", b.name);
    }
}

#[tokio::test]
async fn an_empty_query_browses_every_listing_newest_first() {
    for b in seeded("browse").await {
        let r = run(&b, SearchQuery { per_page: 100, ..SearchQuery::default() }).await;
        assert_eq!(r.total, 12, "{}", b.name);
        assert_eq!(ids(&r), (1..=12).rev().collect::<Vec<_>>(), "{}", b.name);
        let r = run(&b, SearchQuery { per_page: 100, ..SearchQuery::text("!!! ??? ---") }).await;
        assert_eq!(r.total, 12, "{}: punctuation only searches nothing, so it browses", b.name);
    }
}

#[tokio::test]
async fn each_filter_keeps_exactly_the_matching_listings() {
    for b in seeded("filters").await {
        let cases: Vec<(Filters, Vec<u128>)> = vec![
            (Filters { kind: Some("invention_patent".into()), ..Default::default() }, vec![1, 5, 7, 10]),
            (Filters { discipline: Some("材料科学".into()), ..Default::default() }, vec![1, 9]),
            (Filters { trl_min: Some(6), trl_max: Some(7), ..Default::default() }, vec![1, 2, 6, 9, 10]),
            (Filters { trl_min: Some(8), ..Default::default() }, vec![4]),
            (Filters { transfer_mode: Some("equity".into()), ..Default::default() }, vec![7, 9]),
            (Filters { institute: Some(institute(1)), ..Default::default() }, vec![1, 4, 7, 10]),
            (Filters { region: Some("北京".into()), ..Default::default() }, vec![3, 4, 11]),
            (
                Filters { price_min: Some(100 * WAN), price_max: Some(250 * WAN), ..Default::default() },
                vec![5, 7, 9, 10],
            ),
            (Filters { price_max: Some(60 * WAN), ..Default::default() }, vec![6, 8, 12]),
            (Filters { auction: Some(AuctionState::Live), ..Default::default() }, vec![2, 5]),
            (Filters { auction: Some(AuctionState::Upcoming), ..Default::default() }, vec![3, 7]),
            (Filters { lang: Some(achex_core::Lang::En), ..Default::default() }, vec![5, 6, 7, 8, 10, 11]),
            (
                Filters { kind: Some("invention_patent".into()), region: Some("江苏".into()), ..Default::default() },
                vec![1, 7],
            ),
            (Filters { region: Some("no such region".into()), ..Default::default() }, vec![]),
            (Filters { listing_ids: Some(vec![id(2), id(7), id(99)]), ..Default::default() }, vec![2, 7]),
            (
                Filters {
                    listing_ids: Some(vec![id(2), id(7), id(5)]),
                    auction: Some(AuctionState::Live),
                    ..Default::default()
                },
                vec![2, 5],
            ),
            (Filters { listing_ids: Some(vec![]), ..Default::default() }, vec![]),
        ];
        for (filters, expected) in cases {
            let r = run(&b, browse(filters.clone())).await;
            assert_eq!(set(&ids(&r)), set(&expected), "{}: {filters:?}", b.name);
            assert_eq!(r.total, expected.len() as u64, "{}: {filters:?}", b.name);
        }
        let r = run(
            &b,
            SearchQuery {
                filters: Filters { region: Some("北京".into()), ..Default::default() },
                ..SearchQuery::text("人工智能")
            },
        )
        .await;
        assert_eq!(ids(&r), vec![3], "{}: text and filter together", b.name);
    }
}

#[tokio::test]
async fn facet_counts_cover_the_whole_filtered_result_set() {
    for b in seeded("facets").await {
        let r = run(
            &b,
            SearchQuery { per_page: 1, ..browse(Filters { region: Some("江苏".into()), ..Default::default() }) },
        )
        .await;
        assert_eq!(r.hits.len(), 1);
        let f = &r.facets;
        let map = |pairs: &[(&str, u64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(f.kind, map(&[("invention_patent", 2)]), "{}", b.name);
        assert_eq!(f.discipline, map(&[("材料科学", 1), ("能源", 1)]), "{}", b.name);
        assert_eq!(f.trl, map(&[("3", 1), ("6", 1)]), "{}", b.name);
        assert_eq!(f.transfer_mode, map(&[("assignment", 1), ("equity", 1), ("exclusive_license", 1)]), "{}", b.name);
        assert_eq!(f.region, map(&[("江苏", 2)]), "{}", b.name);

        let all = run(&b, browse(Filters::default())).await;
        assert_eq!(all.facets.kind.values().sum::<u64>(), 12, "{}", b.name);
        assert_eq!(all.facets.region.get("北京"), Some(&3), "{}", b.name);
        assert_eq!(all.facets.transfer_mode.get("assignment"), Some(&6), "{}", b.name);
    }
}

#[tokio::test]
async fn sort_orders_are_strict_and_listings_without_the_value_come_last() {
    for b in seeded("sorts").await {
        let sorted = |sort| SearchQuery { sort, per_page: 100, ..SearchQuery::default() };
        let r = ids(&run(&b, sorted(Sort::PriceAsc)).await);
        assert_eq!(&r[..10], &[12, 6, 8, 3, 5, 9, 7, 10, 2, 1], "{}", b.name);
        assert_eq!(set(&r[10..]), set(&[4, 11]), "{}", b.name);
        let r = ids(&run(&b, sorted(Sort::PriceDesc)).await);
        assert_eq!(&r[..10], &[1, 2, 10, 7, 9, 5, 3, 8, 6, 12], "{}", b.name);
        assert_eq!(set(&r[10..]), set(&[4, 11]), "{}", b.name);
        let r = ids(&run(&b, sorted(Sort::Newest)).await);
        assert_eq!(r, (1..=12).rev().collect::<Vec<_>>(), "{}", b.name);
        let r = ids(&run(&b, sorted(Sort::EndingSoon)).await);
        assert_eq!(&r[..4], &[5, 2, 3, 7], "{}", b.name);
        // A text query with an explicit sort is ordered by the sort, not by relevance.
        let r = ids(&run(&b, SearchQuery { sort: Sort::PriceAsc, ..SearchQuery::text("电池") }).await);
        let prices: Vec<i64> =
            r.iter().map(|n| corpus()[*n as usize - 1].price.map_or(i64::MAX, |p| p.amount)).collect();
        assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{}: {r:?}", b.name);
    }
}

#[tokio::test]
async fn pages_are_disjoint_and_add_up_to_the_total() {
    for b in seeded("pages").await {
        let page = |p| SearchQuery { sort: Sort::Newest, page: p, per_page: 5, ..SearchQuery::default() };
        let mut seen = Vec::new();
        for p in 1..=3 {
            let r = run(&b, page(p)).await;
            assert_eq!(r.total, 12, "{}", b.name);
            seen.extend(ids(&r));
        }
        assert_eq!(seen, (1..=12).rev().collect::<Vec<_>>(), "{}", b.name);
        assert!(run(&b, page(4)).await.hits.is_empty(), "{}", b.name);
    }
}

#[tokio::test]
async fn a_deleted_listing_disappears_from_results_and_counts() {
    for b in seeded("delete").await {
        assert!(text(&b, "燃料电池").await.contains(&2));
        b.index.delete(vec![id(2), id(999)]).await.expect("delete");
        assert!(!text(&b, "燃料电池").await.contains(&2), "{}", b.name);
        assert_eq!(run(&b, browse(Filters::default())).await.total, 11, "{}", b.name);
        assert_eq!(b.index.stats().await.expect("stats").documents, 11, "{}", b.name);
        let live = run(&b, browse(Filters { auction: Some(AuctionState::Live), ..Default::default() })).await;
        assert_eq!(ids(&live), vec![5], "{}", b.name);
    }
}

#[tokio::test]
async fn upserting_a_listing_again_replaces_it() {
    for b in seeded("replace").await {
        let mut changed = corpus()[8].clone();
        changed.title = zh("氮化镓功率器件");
        changed.summary = zh("高压快充");
        changed.keywords = vec!["氮化镓".into()];
        changed.region = "上海".into();
        b.index.upsert(vec![changed]).await.expect("upsert");
        assert!(!text(&b, "石墨烯导热膜").await.contains(&9), "{}", b.name);
        assert_eq!(text(&b, "氮化镓").await, vec![9], "{}", b.name);
        assert_eq!(b.index.stats().await.expect("stats").documents, 12, "{}", b.name);
        let r = run(&b, browse(Filters { region: Some("上海".into()), ..Default::default() })).await;
        assert_eq!(set(&ids(&r)), set(&[2, 9]), "{}", b.name);
    }
}

#[tokio::test]
async fn highlights_are_escaped_and_only_mark_is_markup() {
    for b in seeded("escape").await {
        let r = run(&b, SearchQuery::text("water purification")).await;
        let hit = r.hits.iter().find(|h| num(h.listing_id) == 8).expect("listing 8 found");
        let title = &hit.highlights["title"];
        assert!(title.starts_with("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}: {title}", b.name);
        assert!(
            title.contains("<mark>Water</mark>") && title.contains("<mark>purification</mark>"),
            "{}: {title}",
            b.name
        );
        assert!(hit.highlights["summary"].contains("&amp;"), "{}", b.name);
        for q in ["script", "alert", "membrane", "人工智能", "锂电池 cathode", "<mark>", "&amp;"] {
            for h in run(&b, SearchQuery::text(q)).await.hits {
                for html in h.highlights.values() {
                    assert_safe(b.name, html);
                }
            }
        }
    }
}

#[tokio::test]
async fn chinese_highlights_mark_whole_words() {
    for b in seeded("hl_zh").await {
        let r = run(&b, SearchQuery::text("石墨烯")).await;
        let hit = &r.hits[0];
        assert_eq!(num(hit.listing_id), 9, "{}", b.name);
        assert!(hit.highlights["title"].contains("<mark>石墨烯</mark>"), "{}: {:?}", b.name, hit.highlights);
    }
}

/// Deterministic pseudo-random query strings built from the pieces most likely to break a parser.
fn fuzz_queries() -> Vec<String> {
    const PIECES: &[&str] = &[
        "\"",
        "'",
        "AND",
        "OR",
        "NOT",
        "-",
        "+",
        ":",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "*",
        "?",
        "~",
        "^",
        "\\",
        "/",
        "title:",
        "kind:x",
        "🚀",
        "👩‍🔬",
        "\u{0}",
        "\u{E000}",
        "\u{E001}",
        "\u{200B}",
        "e\u{301}",
        " ",
        "\t",
        "\n",
        "人工",
        "智能",
        "锂电池",
        "“",
        "」",
        "電池",
        "battery",
        "batteries",
        "perovskte",
        "<script>",
        "&amp;",
        "1e9",
        "０１２",
        "ＡＢＣ",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "的",
        "a",
        "The",
        "%",
        "#",
        "@",
        "$",
        ";",
        ",",
        ".",
        "…",
        "ǅ",
        "ß",
    ];
    let mut state: u64 = 0x5eed_1234_abcd_ef01;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut out = vec![
        String::new(),
        " ".into(),
        "\"".into(),
        "\"\"".into(),
        "\"unterminated phrase".into(),
        "-".into(),
        "AND".into(),
        "(((".into(),
        "a:b:c".into(),
        "🚀🚀".into(),
        "\u{0}".into(),
        "x".repeat(MAX_QUERY_CHARS),
        "人".repeat(MAX_QUERY_CHARS),
        "电池 ".repeat(MAX_QUERY_CHARS / 3),
    ];
    for _ in 0..300 {
        let n = 1 + next() % 12;
        let mut q = String::new();
        for _ in 0..n {
            q.push_str(PIECES[next() % PIECES.len()]);
            if next() % 3 == 0 {
                q.push(' ');
            }
        }
        out.push(q.chars().take(MAX_QUERY_CHARS).collect());
    }
    out
}

#[tokio::test]
async fn any_query_string_is_answered_without_error() {
    for b in seeded("fuzz").await {
        for (i, q) in fuzz_queries().into_iter().enumerate() {
            let filters =
                if i % 2 == 0 { Filters::default() } else { Filters { trl_min: Some(3), ..Default::default() } };
            let sort = [Sort::Relevance, Sort::Newest, Sort::PriceAsc, Sort::EndingSoon][i % 4];
            let query = SearchQuery { text: q.clone(), filters, sort, ..SearchQuery::default() };
            let r = b.index.search(&query).await.unwrap_or_else(|e| panic!("{}: query {q:?} failed: {e}", b.name));
            for h in &r.hits {
                for html in h.highlights.values() {
                    assert_safe(b.name, html);
                }
            }
            b.index.suggest(&q, 5).await.unwrap_or_else(|e| panic!("{}: suggest {q:?} failed: {e}", b.name));
        }
    }
}

#[tokio::test]
async fn over_long_queries_and_bad_paging_are_refused_with_typed_errors() {
    for b in seeded("refuse").await {
        let long = SearchQuery::text("电池 battery ".repeat(1_000));
        assert!(
            matches!(b.index.search(&long).await, Err(SearchError::QueryTooLong { max: MAX_QUERY_CHARS, .. })),
            "{}",
            b.name
        );
        let just_over = SearchQuery::text("x".repeat(MAX_QUERY_CHARS + 1));
        assert!(matches!(b.index.search(&just_over).await, Err(SearchError::QueryTooLong { .. })), "{}", b.name);
        for bad in [
            SearchQuery { per_page: 0, ..SearchQuery::default() },
            SearchQuery { per_page: MAX_PER_PAGE + 1, ..SearchQuery::default() },
            SearchQuery { page: 0, ..SearchQuery::default() },
            SearchQuery { page: 1_000, per_page: 100, ..SearchQuery::default() },
            SearchQuery {
                filters: Filters { trl_min: Some(7), trl_max: Some(3), ..Default::default() },
                ..SearchQuery::default()
            },
        ] {
            let err = b.index.search(&bad).await.expect_err("refused");
            assert!(matches!(err, SearchError::InvalidQuery(_)) && err.is_client_error(), "{}: {err}", b.name);
        }
    }
}

#[tokio::test]
async fn suggestions_complete_the_word_being_typed() {
    for b in seeded("suggest").await {
        let s = b.index.suggest("perov", 5).await.expect("suggest");
        assert_eq!(s.first().map(|s| num(s.listing_id)), Some(7), "{}", b.name);
        assert_eq!(s[0].text, "Perovskite solar cells", "{}", b.name);
        assert!(s[0].highlighted.contains("<mark>Perov"), "{}: {}", b.name, s[0].highlighted);
        let s = b.index.suggest("石墨", 5).await.expect("suggest");
        assert_eq!(s.iter().map(|s| num(s.listing_id)).collect::<Vec<_>>(), vec![9], "{}", b.name);
        let s = b.index.suggest("deep learning mo", 5).await.expect("suggest");
        assert_eq!(s.iter().map(|s| num(s.listing_id)).collect::<Vec<_>>(), vec![6], "{}", b.name);
        assert!(b.index.suggest("", 5).await.expect("suggest").is_empty(), "{}", b.name);
        assert!(b.index.suggest("   ", 5).await.expect("suggest").is_empty(), "{}", b.name);
    }
}

#[tokio::test]
async fn similar_listings_share_the_topic_and_never_include_the_listing_itself() {
    for b in seeded("similar").await {
        let hits: Vec<u128> =
            b.index.similar(id(1), 5).await.expect("similar").iter().map(|h| num(h.listing_id)).collect();
        assert!(!hits.contains(&1), "{}: {hits:?}", b.name);
        assert_eq!(hits.first(), Some(&10), "{}: {hits:?}", b.name);
        assert!(matches!(b.index.similar(id(999), 5).await, Err(SearchError::NotFound(_))), "{}", b.name);
    }
}

#[tokio::test]
async fn stats_count_documents_and_clear_removes_them_all() {
    for b in seeded("stats").await {
        assert_eq!(b.index.stats().await.expect("stats").documents, 12, "{}", b.name);
        b.index.clear().await.expect("clear");
        assert_eq!(b.index.stats().await.expect("stats").documents, 0, "{}", b.name);
        assert_eq!(run(&b, SearchQuery::default()).await.total, 0, "{}", b.name);
    }
}

#[tokio::test]
async fn an_invalid_document_is_refused_before_anything_is_written() {
    for b in backends("invalid").await {
        let mut bad = corpus()[0].clone();
        bad.trl = 12;
        let err = b.index.upsert(vec![corpus()[1].clone(), bad]).await.expect_err("refused");
        assert!(matches!(err, SearchError::InvalidDocument { .. }), "{}: {err}", b.name);
        assert_eq!(b.index.stats().await.expect("stats").documents, 0, "{}", b.name);
    }
}
