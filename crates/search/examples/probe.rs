use std::io::BufRead;
use achex_core::{LangText, ListingId, OrganizationId};
use achex_search::*;
use chrono::Utc;
#[tokio::main]
async fn main() {
    let files = std::env::var("PROBE_FILE").unwrap_or("/work/shared/data/zh_sci_abstracts.jsonl.gz".into());
    let limit: usize = std::env::var("PROBE_LIMIT").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let (mut docs, mut texts, mut raw) = (Vec::new(), Vec::new(), 0usize);
    for path in files.split(',') {
        let r = std::io::BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()));
        let en = path.contains("/en_");
        for l in r.lines().take(limit) {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            let t = v["title"].as_str().unwrap_or("").to_string();
            let a = v["abstract"].as_str().unwrap_or("").to_string();
            raw += t.len() + a.len();
            texts.push(a.clone());
            let lt = |s: String| if en { LangText::en(s) } else { LangText::zh(s) };
            docs.push(ListingDocument { listing_id: ListingId::new(), title: lt(t), summary: LangText::default(), description: lt(a),
                keywords: vec![], kind: ["other", "know_how", "invention_patent"][docs.len() % 3].into(), discipline: v["discipline"].as_str().unwrap_or("").into(), trl: (docs.len() % 9 + 1) as u8,
                transfer_modes: vec!["assignment".into()], institute_id: OrganizationId::from(uuid::Uuid::from_u128(1)), institute_name: String::new(),
                region: ["北京", "上海", "江苏"][docs.len() % 3].into(), price: None, auction: AuctionState::None, auction_ends_at: None, published_at: Utc::now() });
        }
    }
    let _ = std::fs::remove_dir_all("/tmp/probe_idx");
    let idx = EmbeddedIndex::open(std::path::Path::new("/tmp/probe_idx")).unwrap();
    let t = std::time::Instant::now();
    for c in docs.chunks(10000) { idx.upsert(c.to_vec()).await.unwrap(); }
    println!("indexed {} docs ({} bytes text) in {:?}", docs.len(), raw, t.elapsed());
    let t = std::time::Instant::now();
    idx.compact().await.unwrap();
    println!("compacted in {:?}; stats {:?}", t.elapsed(), idx.stats().await.unwrap());
    let mut qs: Vec<String> = ["neural network training", "graph", "\"deep learning\" image", "quantum error correction codes",
        "reinforcment learning", "人工智能", "锂电池 正极材料", "基于深度学习的图像识别方法研究", "\"燃料电池\"", "锂电池 cathode"]
        .iter().map(|s| s.to_string()).collect();
    qs.push(texts[9].chars().take(300).collect());
    let mut all = Vec::new();
    for q in &qs {
        let query = SearchQuery { per_page: 20, ..SearchQuery::text(q.clone()) };
        let _ = idx.search_blocking(&query).unwrap();
        let mut lat = Vec::new(); let mut total = 0;
        for _ in 0..20 { let t = std::time::Instant::now(); total = idx.search_blocking(&query).unwrap().total; lat.push(t.elapsed()); }
        lat.sort(); all.extend(lat.iter().copied());
        println!("{:>40}: p50 {:?} max {:?} total {total}", q.chars().take(40).collect::<String>(), lat[10], lat[19]);
    }
    all.sort();
    println!("overall p50 {:?} p95 {:?}", all[all.len() / 2], all[all.len() * 95 / 100]);
}
