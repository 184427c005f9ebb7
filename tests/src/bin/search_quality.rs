//! `search-quality`: how well the product's own search ranks the shared test collections.
//!
//! For every collection folder (`corpus.jsonl.gz` or the corpus named in `README.json`,
//! `queries.jsonl`, `qrels.tsv`) it indexes the corpus through the embedded backend — the same
//! analyzer and ranking the product serves — runs every judged query and prints nDCG@10,
//! Recall@100 and MRR@10 beside the plain-BM25 floor of that collection.
//!
//! ```text
//! cargo run --release -p achex-tests --bin search-quality [-- --collection DIR]...
//! ```
//!
//! Without `--collection`, every folder of `$ACHEX_SHARED_DATA/testcollections` is evaluated
//! (default `../shared/data` next to the workspace). Queries carrying `exclude_field` (the
//! known-item sets) are run against an index built without that field. nDCG uses linear gains
//! (trec_eval's definition). The floor is read from `README.json` (`bm25_ndcg@10` /
//! `bm25_mrr@10` when present) or from the collection's row in the data README's table.
//! `--set name=value` overrides one ranking weight for experiments (reported figures use none);
//! `--misses` lists the queries whose first relevant document is not ranked first. The exit
//! status is 1 when a collection is below its floor.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use achex_core::{LangText, ListingId, OrganizationId};
use achex_search::{
    AuctionState, EmbeddedIndex, EmbeddedOptions, ListingDocument, MAX_QUERY_CHARS, Ranking, SearchIndex, SearchQuery,
};
use anyhow::{Context, Result, bail};
use chrono::{TimeZone, Utc};
use serde_json::Value;

struct Args {
    collections: Vec<PathBuf>,
    overrides: Vec<(String, f32)>,
    /// Print the queries whose first relevant document is not ranked first.
    misses: bool,
}

fn parse_args() -> Result<Args> {
    let mut collections = Vec::new();
    let mut overrides = Vec::new();
    let mut misses = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--collection" => collections.push(PathBuf::from(it.next().context("--collection needs a directory")?)),
            "--set" => {
                let kv = it.next().context("--set needs name=value")?;
                let (k, v) = kv.split_once('=').context("--set needs name=value")?;
                overrides.push((k.to_string(), v.parse().context("--set value must be a number")?));
            }
            "--misses" => misses = true,
            "-h" | "--help" => {
                println!("search-quality [--collection DIR]... [--set WEIGHT=VALUE]... [--misses]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if collections.is_empty() {
        let root = shared_data();
        let dir = root.join("testcollections");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("queries.jsonl").exists())
            .collect();
        found.sort();
        collections = found;
    }
    Ok(Args { collections, overrides, misses })
}

fn shared_data() -> PathBuf {
    std::env::var_os("ACHEX_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn apply_override(r: &mut Ranking, name: &str, v: f32) -> Result<()> {
    match name {
        "title" => r.title = v,
        "summary" => r.summary = v,
        "description" => r.description = v,
        "keywords" => r.keywords = v,
        "institute" => r.institute = v,
        "title_grams" => r.title_grams = v,
        "body_grams" => r.body_grams = v,
        "subword" => r.subword = v,
        "fuzzy" => r.fuzzy = v,
        "synonym" => r.synonym = v,
        "coordination" => r.coordination = v,
        "coordination_max_words" => r.coordination_max_words = v as usize,
        "common_cutoff" => r.common_cutoff = v,
        "common_min_docs" => r.common_min_docs = v as u64,
        "fuzzy_min_chars" => r.fuzzy_min_chars = v as usize,
        "fuzzy_max_words" => r.fuzzy_max_words = v as usize,
        "fuzzy_max_expansions" => r.fuzzy_max_expansions = v as usize,
        other => bail!("unknown ranking weight {other}"),
    }
    Ok(())
}

struct Query {
    id: String,
    text: String,
    exclude_field: Option<String>,
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::new(flate2::read::GzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line?;
        if !line.trim().is_empty() {
            out.push(serde_json::from_str(&line).with_context(|| format!("bad JSON line in {}", path.display()))?);
        }
    }
    Ok(out)
}

/// qid → docid → gain
fn read_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, f64>>> {
    let mut out: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for line in std::fs::read_to_string(path)?.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 4 {
            out.entry(cols[0].to_string()).or_default().insert(cols[2].to_string(), cols[3].parse().unwrap_or(0.0));
        }
    }
    Ok(out)
}

/// Floor: README.json keys first, then the collection's row in the data README table.
fn floor(dir: &Path, readme: &Value) -> Option<(String, f64)> {
    for (key, metric) in [("bm25_ndcg@10", "nDCG@10"), ("bm25_mrr@10", "MRR@10")] {
        if let Some(v) = readme.get(key).and_then(Value::as_f64) {
            return Some((metric.to_string(), v));
        }
    }
    let name = dir.file_name()?.to_str()?;
    let table = std::fs::read_to_string(dir.parent()?.parent()?.join("README.md")).ok()?;
    let row = table.lines().find(|l| l.split('|').nth(1).is_some_and(|c| c.trim() == name))?;
    let last = row.trim().trim_end_matches('|').rsplit('|').next()?.trim();
    let (metric, value) = match last.rsplit_once(' ') {
        Some((m, v)) => (m.trim().to_string(), v),
        None => ("nDCG@10".to_string(), last),
    };
    Some((metric, value.parse().ok()?))
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c) || ('\u{3400}'..='\u{4DBF}').contains(&c))
}

/// A corpus record as a listing: title and abstract go to title and description in the language
/// of the text; keywords and discipline as they are.
fn to_listing(rec: &Value, n: usize, exclude: Option<&str>) -> (String, ListingDocument) {
    let s = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let lang_text = |t: String| {
        let zh = match rec.get("lang").and_then(Value::as_str) {
            Some("zh") => true,
            Some("en") => false,
            _ => has_cjk(&t),
        };
        if t.trim().is_empty() {
            LangText::default()
        } else if zh {
            LangText::zh(t)
        } else {
            LangText::en(t)
        }
    };
    let keep = |field: &str| exclude != Some(field);
    let keywords: Vec<String> = if keep("keywords") {
        rec.get("keywords")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let doc = ListingDocument {
        listing_id: ListingId::from(uuid_from(n)),
        title: if keep("title") { lang_text(s("title")) } else { LangText::default() },
        summary: LangText::default(),
        description: if keep("abstract") { lang_text(s("abstract")) } else { LangText::default() },
        keywords,
        kind: "other".into(),
        discipline: s("discipline"),
        trl: 1,
        transfer_modes: Vec::new(),
        institute_id: OrganizationId::from(uuid_from(0)),
        institute_name: String::new(),
        region: String::new(),
        price: None,
        auction: AuctionState::None,
        auction_ends_at: None,
        published_at: Utc.timestamp_opt(1_700_000_000 + n as i64, 0).single().unwrap_or_default(),
    };
    (s("id"), doc)
}

fn uuid_from(n: usize) -> uuid::Uuid {
    uuid::Uuid::from_u128(n as u128 + 1)
}

/// Cuts an over-long query at a word boundary below the product's limit.
fn clip(text: &str) -> (String, bool) {
    if text.chars().count() <= MAX_QUERY_CHARS {
        return (text.to_string(), false);
    }
    let cut: String = text.chars().take(MAX_QUERY_CHARS).collect();
    let end = cut.rfind(char::is_whitespace).unwrap_or(cut.len());
    (cut[..end].to_string(), true)
}

#[derive(Default)]
struct Scores {
    ndcg10: Vec<f64>,
    recall100: Vec<f64>,
    mrr10: Vec<f64>,
    clipped: usize,
    latencies_ms: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

fn evaluate(ranked: &[String], judged: &HashMap<String, f64>, s: &mut Scores) {
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| judged.get(d).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = judged.values().copied().filter(|g| *g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(10).enumerate().map(|(i, g)| g / (i as f64 + 2.0).log2()).sum();
    let relevant: HashSet<&String> = judged.iter().filter(|(_, g)| **g > 0.0).map(|(d, _)| d).collect();
    let found = ranked.iter().take(100).filter(|d| relevant.contains(d)).count();
    let rr = ranked.iter().take(10).position(|d| relevant.contains(d)).map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    s.ndcg10.push(if idcg > 0.0 { dcg / idcg } else { 0.0 });
    s.recall100.push(if relevant.is_empty() { 0.0 } else { found as f64 / relevant.len() as f64 });
    s.mrr10.push(rr);
}

struct Report {
    name: String,
    docs: usize,
    queries: usize,
    scores: Scores,
    floor: Option<(String, f64)>,
    index_secs: f64,
}

async fn run_collection(dir: &Path, ranking: Ranking, misses: bool) -> Result<Report> {
    let readme: Value = std::fs::read_to_string(dir.join("README.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let corpus_path = match readme.get("corpus").and_then(Value::as_str) {
        Some(rel) => dir.join(rel),
        None => dir.join("corpus.jsonl.gz"),
    };
    let corpus = read_jsonl(&corpus_path)?;
    let queries: Vec<Query> = read_jsonl(&dir.join("queries.jsonl"))?
        .into_iter()
        .map(|q| Query {
            id: q.get("id").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default(),
            text: q.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
            exclude_field: q.get("exclude_field").and_then(Value::as_str).map(str::to_string),
        })
        .collect();
    let qrels = read_qrels(&dir.join("qrels.tsv"))?;

    let mut groups: BTreeMap<Option<String>, Vec<&Query>> = BTreeMap::new();
    for q in queries.iter().filter(|q| qrels.contains_key(&q.id)) {
        groups.entry(q.exclude_field.clone()).or_default().push(q);
    }
    let mut scores = Scores::default();
    let mut index_secs = 0.0;
    let mut evaluated = 0;
    for (exclude, group) in groups {
        let started = Instant::now();
        let options = EmbeddedOptions { ranking, ..EmbeddedOptions::default() };
        let index = EmbeddedIndex::in_memory_with(options)?;
        let mut by_listing: HashMap<ListingId, String> = HashMap::with_capacity(corpus.len());
        let mut batch = Vec::new();
        for (n, rec) in corpus.iter().enumerate() {
            let (id, doc) = to_listing(rec, n + 1, exclude.as_deref());
            by_listing.insert(doc.listing_id, id);
            batch.push(doc);
            if batch.len() == 5_000 {
                index.upsert(std::mem::take(&mut batch)).await?;
            }
        }
        index.upsert(batch).await?;
        index_secs += started.elapsed().as_secs_f64();
        for q in group {
            let (text, clipped) = clip(&q.text);
            scores.clipped += usize::from(clipped);
            let t = Instant::now();
            let res = index.search_blocking(&SearchQuery { per_page: 100, ..SearchQuery::text(text) })?;
            scores.latencies_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let ranked: Vec<String> = res.hits.iter().filter_map(|h| by_listing.get(&h.listing_id).cloned()).collect();
            evaluate(&ranked, &qrels[&q.id], &mut scores);
            if misses {
                let judged = &qrels[&q.id];
                let first = ranked.iter().position(|d| judged.get(d).is_some_and(|g| *g > 0.0));
                if first != Some(0) {
                    let best: Vec<&String> = judged.iter().filter(|(_, g)| **g > 0.0).map(|(d, _)| d).take(3).collect();
                    println!(
                        "miss {} rank {:?} relevant {best:?} top {:?}: {}",
                        q.id,
                        first.map(|r| r + 1),
                        ranked.first(),
                        q.text
                    );
                }
            }
            evaluated += 1;
        }
    }
    Ok(Report {
        name: dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string(),
        docs: corpus.len(),
        queries: evaluated,
        scores,
        floor: floor(dir, &readme),
        index_secs,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let mut ranking = Ranking::default();
    for (k, v) in &args.overrides {
        apply_override(&mut ranking, k, *v)?;
    }
    if !args.overrides.is_empty() {
        println!("ranking overrides (experiment, not the product defaults): {:?}", args.overrides);
    }
    println!(
        "{:<18} {:>6} {:>7}  {:>8} {:>8} {:>9} {:>8}  {:>10} {:>8} {:>8}  {:>7} {:>9}",
        "collection",
        "docs",
        "queries",
        "metric",
        "ours",
        "floor",
        "Δ",
        "Recall@100",
        "nDCG@10",
        "MRR@10",
        "index s",
        "query p50"
    );
    let mut all_pass = true;
    for dir in &args.collections {
        let r = match run_collection(dir, ranking, args.misses).await {
            Ok(r) => r,
            Err(e) => {
                println!("{:<18} failed: {e:#}", dir.display());
                all_pass = false;
                continue;
            }
        };
        let (ndcg, recall, mrr) = (mean(&r.scores.ndcg10), mean(&r.scores.recall100), mean(&r.scores.mrr10));
        let mut lat = r.scores.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        let p50 = lat.get(lat.len() / 2).copied().unwrap_or(0.0);
        let (metric, ours, floor_txt, delta_txt) = match &r.floor {
            Some((m, f)) => {
                let ours = if m.starts_with("MRR") { mrr } else { ndcg };
                all_pass &= ours >= *f;
                (m.clone(), ours, format!("{f:.3}"), format!("{:+.3}", ours - f))
            }
            None => ("nDCG@10".into(), ndcg, "-".into(), "-".into()),
        };
        println!(
            "{:<18} {:>6} {:>7}  {:>8} {:>8.3} {:>9} {:>8}  {:>10.3} {:>8.3} {:>8.3}  {:>7.1} {:>7.2}ms",
            r.name, r.docs, r.queries, metric, ours, floor_txt, delta_txt, recall, ndcg, mrr, r.index_secs, p50
        );
        if r.scores.clipped > 0 {
            println!(
                "{:<18} note: {} queries longer than {MAX_QUERY_CHARS} characters were cut at a word boundary",
                "", r.scores.clipped
            );
        }
    }
    println!(
        "{}",
        if all_pass { "all collections at or above their floor" } else { "SOME COLLECTIONS BELOW THEIR FLOOR" }
    );
    println!("ranking: {ranking:?}");
    if !all_pass {
        std::process::exit(1);
    }
    Ok(())
}
