//! The Meilisearch backend. Same port, same observable behaviour as the embedded index where
//! Meilisearch allows it (see the crate README for the known differences).
//!
//! Every write waits for its Meilisearch task to finish, so — as with the embedded index — a
//! change is searchable when the call returns. Highlights are requested with private-use sentinel
//! characters as tags and converted to escaped HTML here, because Meilisearch does not escape the
//! document text around its tags.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use achex_core::{Lang, ListingId};
use async_trait::async_trait;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::errors::{Error as MeiliError, ErrorCode};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::search::{MatchingStrategies, Selectors};
use meilisearch_sdk::settings::{
    FacetingSettings, LocalizedAttributes, MinWordSizeForTypos, PaginationSetting, Settings, TypoToleranceSettings,
};
use meilisearch_sdk::task_info::TaskInfo;
use serde::{Deserialize, Serialize};

use crate::SearchIndex;
use crate::analysis;
use crate::highlight::sentinels_to_html;
use crate::model::*;
use crate::query::{analyze_query, split_quotes, without_quotes};
use crate::synonyms::SYNONYM_GROUPS;

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';
const OPEN_TAG: &str = "\u{E000}";
const CLOSE_TAG: &str = "\u{E001}";

const SEARCHABLE: [&str; 8] = [
    "title_zh",
    "title_en",
    "keywords",
    "summary_zh",
    "summary_en",
    "description_zh",
    "description_en",
    "institute_name",
];
const HIGHLIGHTED: [&str; 7] =
    ["title_zh", "title_en", "keywords", "summary_zh", "summary_en", "description_zh", "description_en"];
const FACETS: [&str; 5] = ["kind", "discipline", "transfer_mode", "trl", "region"];

/// How long a write may wait for Meilisearch to apply it.
const TASK_TIMEOUT: Duration = Duration::from_secs(120);
const TASK_POLL: Duration = Duration::from_millis(10);

/// A listing as stored in Meilisearch: flat, one attribute per language so each gets its locale.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MeiliDoc {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title_en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    summary_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    summary_en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description_en: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    institute_name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    discipline: String,
    #[serde(default)]
    trl: u8,
    #[serde(default)]
    transfer_mode: Vec<String>,
    #[serde(default)]
    institute_id: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    auction: String,
    /// Absent (not null) when unpriced, so price filters exclude it and price sorts put it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    price: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auction_ends_at: Option<i64>,
    #[serde(default)]
    published_at: i64,
    #[serde(default)]
    lang: Vec<String>,
}

/// Sentinels inside listing text would forge highlights; they have no business there anyway.
fn clean(s: &str) -> String {
    s.chars().filter(|&c| c != OPEN && c != CLOSE).collect()
}

fn clean_opt(t: &achex_core::LangText, lang: Lang) -> Option<String> {
    t.get(lang).map(clean)
}

impl From<&ListingDocument> for MeiliDoc {
    fn from(d: &ListingDocument) -> Self {
        MeiliDoc {
            id: d.listing_id.to_string(),
            title_zh: clean_opt(&d.title, Lang::Zh),
            title_en: clean_opt(&d.title, Lang::En),
            summary_zh: clean_opt(&d.summary, Lang::Zh),
            summary_en: clean_opt(&d.summary, Lang::En),
            description_zh: clean_opt(&d.description, Lang::Zh),
            description_en: clean_opt(&d.description, Lang::En),
            keywords: d.keywords.iter().map(|k| clean(k)).filter(|k| !k.trim().is_empty()).collect(),
            institute_name: clean(&d.institute_name),
            kind: d.kind.clone(),
            discipline: d.discipline.clone(),
            trl: d.trl,
            transfer_mode: d.transfer_modes.clone(),
            institute_id: d.institute_id.to_string(),
            region: d.region.clone(),
            auction: d.auction.as_str().to_string(),
            price: d.price.map(|p| p.amount),
            auction_ends_at: d.auction_ends_at.map(|t| t.timestamp_millis()),
            published_at: d.published_at.timestamp_millis(),
            lang: d.langs().into_iter().map(|l| l.code().to_string()).collect(),
        }
    }
}

fn map_err(e: MeiliError) -> SearchError {
    match e {
        MeiliError::HttpError(e) => SearchError::Unavailable(e.to_string()),
        MeiliError::MeilisearchCommunication(e) => SearchError::Unavailable(e.to_string()),
        MeiliError::Timeout => SearchError::Unavailable("a Meilisearch task did not finish in time".into()),
        e => SearchError::backend(e),
    }
}

/// The settings applied at start. Ranking puts `sort` first so an explicit sort order is strict,
/// as in the embedded index; typo tolerance starts at 5 characters with one typo, as there.
fn settings() -> Settings {
    let mut synonyms: HashMap<String, Vec<String>> = HashMap::new();
    for group in SYNONYM_GROUPS {
        for expr in group.iter() {
            let others = group.iter().filter(|o| *o != expr).map(|o| o.to_lowercase()).collect();
            synonyms.insert(expr.to_lowercase(), others);
        }
    }
    Settings::new()
        .with_searchable_attributes(SEARCHABLE)
        .with_filterable_attributes([
            "id",
            "kind",
            "discipline",
            "trl",
            "transfer_mode",
            "institute_id",
            "region",
            "auction",
            "price",
            "lang",
        ])
        .with_sortable_attributes(["published_at", "price", "auction_ends_at"])
        .with_ranking_rules(["sort", "words", "typo", "proximity", "attribute", "exactness"])
        .with_typo_tolerance(TypoToleranceSettings {
            enabled: Some(true),
            disable_on_attributes: None,
            disable_on_words: None,
            min_word_size_for_typos: Some(MinWordSizeForTypos { one_typo: Some(5), two_typos: Some(255) }),
            disable_on_numbers: Some(true),
        })
        .with_localized_attributes([
            LocalizedAttributes { locales: vec!["cmn".into()], attribute_patterns: vec!["*_zh".into()] },
            LocalizedAttributes { locales: vec!["eng".into()], attribute_patterns: vec!["*_en".into()] },
        ])
        .with_synonyms(synonyms)
        .with_stop_words(
            analysis::STOPWORDS.iter().map(|s| s.to_string()).chain(analysis::CJK_STOPWORDS.chars().map(String::from)),
        )
        .with_pagination(PaginationSetting { max_total_hits: MAX_RESULT_WINDOW as usize })
        .with_faceting(FacetingSettings { max_values_per_facet: 1000, sort_facet_values_by: None })
}

/// Rewrites a user query so Meilisearch reads it as the embedded index does: curly and CJK quotes
/// become ASCII phrase quotes, an unmatched quote is dropped, and a leading `-` (Meilisearch's
/// negation) is plain punctuation. A query with nothing searchable becomes a placeholder search.
fn meili_query_text(text: &str) -> String {
    if analyze_query(text).is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(text.len());
    for (segment, quoted) in split_quotes(text) {
        let cleaned: String = segment.chars().map(|c| if c == '"' || c == '-' { ' ' } else { c }).collect();
        if quoted {
            out.push_str(" \"");
            out.push_str(cleaned.trim());
            out.push_str("\" ");
        } else {
            out.push_str(&cleaned);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn filter_expression(f: &Filters) -> Option<String> {
    let mut parts = Vec::new();
    for (attr, value) in
        [("kind", &f.kind), ("discipline", &f.discipline), ("transfer_mode", &f.transfer_mode), ("region", &f.region)]
    {
        if let Some(v) = value {
            parts.push(format!("{attr} = {}", quote(v)));
        }
    }
    if let Some(v) = f.institute {
        parts.push(format!("institute_id = {}", quote(&v.to_string())));
    }
    if let Some(v) = f.auction {
        parts.push(format!("auction = {}", quote(v.as_str())));
    }
    if let Some(v) = f.lang {
        parts.push(format!("lang = {}", quote(v.code())));
    }
    if let Some(ids) = &f.listing_ids {
        // No document has an empty id: an empty list matches nothing, as in the embedded backend.
        let mut quoted: Vec<String> = ids.iter().map(|id| quote(&id.to_string())).collect();
        if quoted.is_empty() {
            quoted.push(quote(""));
        }
        parts.push(format!("id IN [{}]", quoted.join(", ")));
    }
    if let Some(v) = f.trl_min {
        parts.push(format!("trl >= {v}"));
    }
    if let Some(v) = f.trl_max {
        parts.push(format!("trl <= {v}"));
    }
    if let Some(v) = f.price_min {
        parts.push(format!("price >= {v}"));
    }
    if let Some(v) = f.price_max {
        parts.push(format!("price <= {v}"));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// The formatted version of a field pair (`title_zh`/`title_en`) with highlights, as escaped HTML.
fn formatted_field(
    formatted: &serde_json::Map<String, serde_json::Value>,
    base: &str,
    preferred: Option<Lang>,
) -> Option<String> {
    let mut candidates: Vec<(Lang, String)> = Vec::new();
    for lang in [Lang::Zh, Lang::En] {
        if let Some(serde_json::Value::String(s)) = formatted.get(&format!("{base}_{}", lang.code())) {
            let marks = s.matches(OPEN).count();
            if marks > 0 {
                candidates.push((lang, s.clone()));
            }
        }
    }
    // As in the embedded index: the preferred language when it has a mark, else the most marks.
    candidates.sort_by_key(|(lang, s)| (Some(*lang) != preferred, std::cmp::Reverse(s.matches(OPEN).count())));
    candidates.into_iter().next().map(|(_, s)| sentinels_to_html(&s, OPEN, CLOSE).0)
}

fn highlights(
    formatted: Option<&serde_json::Map<String, serde_json::Value>>,
    preferred: Option<Lang>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(formatted) = formatted else { return out };
    for base in ["title", "summary", "description"] {
        if let Some(h) = formatted_field(formatted, base, preferred) {
            out.insert(base.to_string(), h);
        }
    }
    if let Some(serde_json::Value::Array(items)) = formatted.get("keywords") {
        let joined = items.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", ");
        let (html, marked) = sentinels_to_html(&joined, OPEN, CLOSE);
        if marked {
            out.insert("keywords".into(), html);
        }
    }
    out
}

/// The Meilisearch backend.
pub struct MeiliIndex {
    client: Client,
    index: Index,
}

impl MeiliIndex {
    /// Connects, creates the index if needed and applies the settings (waiting until they are in
    /// force, which re-indexes existing documents when they changed).
    pub async fn connect(url: &str, api_key: Option<&str>, index_name: &str) -> Result<Self, SearchError> {
        let client = Client::new(url, api_key).map_err(map_err)?;
        client.health().await.map_err(map_err)?;
        match client.create_index(index_name, Some("id")).await {
            Ok(task) => {
                let task =
                    task.wait_for_completion(&client, Some(TASK_POLL), Some(TASK_TIMEOUT)).await.map_err(map_err)?;
                if task.is_failure() {
                    let e = task.unwrap_failure();
                    if e.error_code != ErrorCode::IndexAlreadyExists {
                        return Err(SearchError::backend(MeiliError::Meilisearch(e)));
                    }
                }
            }
            Err(e) => return Err(map_err(e)),
        }
        let index = client.index(index_name);
        let this = MeiliIndex { client, index };
        let task = this.index.set_settings(&settings()).await.map_err(map_err)?;
        this.wait(task).await?;
        Ok(this)
    }

    async fn wait(&self, task: TaskInfo) -> Result<(), SearchError> {
        let task =
            task.wait_for_completion(&self.client, Some(TASK_POLL), Some(TASK_TIMEOUT)).await.map_err(map_err)?;
        if task.is_failure() {
            return Err(SearchError::backend(MeiliError::Meilisearch(task.unwrap_failure())));
        }
        Ok(())
    }

    async fn get(&self, id: ListingId) -> Result<MeiliDoc, SearchError> {
        match self.index.get_document::<MeiliDoc>(&id.to_string()).await {
            Ok(d) => Ok(d),
            Err(MeiliError::Meilisearch(e)) if e.error_code == ErrorCode::DocumentNotFound => {
                Err(SearchError::NotFound(id))
            }
            Err(e) => Err(map_err(e)),
        }
    }
}

fn listing_id(doc: &MeiliDoc) -> Result<ListingId, SearchError> {
    doc.id.parse().map_err(SearchError::backend)
}

#[async_trait]
impl SearchIndex for MeiliIndex {
    async fn upsert(&self, docs: Vec<ListingDocument>) -> Result<(), SearchError> {
        for d in &docs {
            d.validate()?;
        }
        if docs.is_empty() {
            return Ok(());
        }
        let docs: Vec<MeiliDoc> = docs.iter().map(MeiliDoc::from).collect();
        let task = self.index.add_or_replace(&docs, Some("id")).await.map_err(map_err)?;
        self.wait(task).await
    }

    async fn delete(&self, ids: Vec<ListingId>) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let task = self.index.delete_documents(&ids).await.map_err(map_err)?;
        self.wait(task).await
    }

    async fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        q.validate()?;
        let started = Instant::now();
        let text = meili_query_text(&q.text);
        let filter = filter_expression(&q.filters);
        let sort: &[&str] = match q.sort {
            Sort::Relevance if text.is_empty() => &["published_at:desc"],
            Sort::Relevance => &[],
            Sort::Newest => &["published_at:desc"],
            Sort::PriceAsc => &["price:asc"],
            Sort::PriceDesc => &["price:desc"],
            Sort::EndingSoon => &["auction_ends_at:asc"],
        };
        let crop = [("description_zh", None), ("description_en", None)];
        let mut s = self.index.search();
        s.with_query(&text)
            .with_page(q.page as usize)
            .with_hits_per_page(q.per_page as usize)
            .with_facets(Selectors::Some(&FACETS))
            .with_attributes_to_highlight(Selectors::Some(&HIGHLIGHTED))
            .with_attributes_to_crop(Selectors::Some(&crop))
            .with_crop_length(40)
            .with_crop_marker("…")
            .with_highlight_pre_tag(OPEN_TAG)
            .with_highlight_post_tag(CLOSE_TAG)
            .with_show_ranking_score(true);
        if let Some(f) = &filter {
            s.with_filter(f);
        }
        if !sort.is_empty() {
            s.with_sort(sort);
        }
        let res = s.execute::<MeiliDoc>().await.map_err(map_err)?;
        let preferred = q.filters.lang.or_else(|| analyze_query(&q.text).language());
        let mut hits = Vec::with_capacity(res.hits.len());
        for h in &res.hits {
            hits.push(Hit {
                listing_id: listing_id(&h.result)?,
                score: h.ranking_score.unwrap_or(0.0) as f32,
                highlights: highlights(h.formatted_result.as_ref(), preferred),
                document: None,
            });
        }
        let mut facets = Facets::default();
        if let Some(dist) = res.facet_distribution {
            for (name, values) in dist {
                let target = match name.as_str() {
                    "kind" => &mut facets.kind,
                    "discipline" => &mut facets.discipline,
                    "transfer_mode" => &mut facets.transfer_mode,
                    "trl" => &mut facets.trl,
                    "region" => &mut facets.region,
                    _ => continue,
                };
                target.extend(values.into_iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k, n as u64)));
            }
        }
        let total = res.total_hits.or(res.estimated_total_hits).unwrap_or(0) as u64;
        Ok(SearchResults { hits, facets, total, took_ms: started.elapsed().as_millis() as u64 })
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let len = prefix.chars().count();
        if len > MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong { len, max: MAX_QUERY_CHARS });
        }
        let text = meili_query_text(prefix);
        if text.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let on = ["title_zh", "title_en"];
        let mut s = self.index.search();
        s.with_query(&text)
            .with_limit(limit.min(MAX_PER_PAGE as usize))
            .with_attributes_to_search_on(&on)
            .with_attributes_to_highlight(Selectors::Some(&on))
            .with_highlight_pre_tag(OPEN_TAG)
            .with_highlight_post_tag(CLOSE_TAG)
            .with_matching_strategy(MatchingStrategies::ALL);
        let res = s.execute::<MeiliDoc>().await.map_err(map_err)?;
        let mut out = Vec::new();
        for h in res.hits {
            let Some(formatted) = h.formatted_result.as_ref() else { continue };
            let Some(highlighted) = formatted_field(formatted, "title", None) else { continue };
            let marked_zh = formatted.get("title_zh").and_then(|v| v.as_str()).is_some_and(|s| s.contains(OPEN));
            let text = if marked_zh { h.result.title_zh.clone() } else { h.result.title_en.clone() };
            out.push(Suggestion { listing_id: listing_id(&h.result)?, text: text.unwrap_or_default(), highlighted });
        }
        Ok(out)
    }

    async fn similar(&self, id: ListingId, limit: usize) -> Result<Vec<Hit>, SearchError> {
        let d = self.get(id).await?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Meilisearch's own /similar needs an embedder; without one, search with the listing's
        // title and keywords (Meilisearch reads at most 10 words), dropping the rarest last.
        let mut text: Vec<String> = Vec::new();
        for t in [&d.title_zh, &d.title_en].into_iter().flatten() {
            text.push(t.clone());
        }
        text.extend(d.keywords.iter().cloned());
        let text = meili_query_text(&without_quotes(&text.join(" ")));
        let filter = format!("id != {}", quote(&d.id));
        let mut s = self.index.search();
        s.with_query(&text)
            .with_limit(limit.min(MAX_PER_PAGE as usize))
            .with_filter(&filter)
            .with_matching_strategy(MatchingStrategies::FREQUENCY)
            .with_show_ranking_score(true);
        let res = s.execute::<MeiliDoc>().await.map_err(map_err)?;
        res.hits
            .iter()
            .map(|h| {
                Ok(Hit {
                    listing_id: listing_id(&h.result)?,
                    score: h.ranking_score.unwrap_or(0.0) as f32,
                    highlights: BTreeMap::new(),
                    document: None,
                })
            })
            .collect()
    }

    async fn stats(&self) -> Result<IndexStats, SearchError> {
        let s = self.index.get_stats().await.map_err(map_err)?;
        Ok(IndexStats { backend: "meilisearch".into(), documents: s.number_of_documents as u64, size_bytes: None })
    }

    async fn clear(&self) -> Result<(), SearchError> {
        let task = self.index.delete_all_documents().await.map_err(map_err)?;
        self.wait(task).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_rewritten_to_plain_words_and_ascii_phrases() {
        assert_eq!(meili_query_text("“锂电池” -cathode"), "\"锂电池\" cathode");
        assert_eq!(meili_query_text("a \"b"), "a b");
        assert_eq!(meili_query_text("🚀 !!!"), "");
    }

    #[test]
    fn filter_values_are_quoted_and_escaped() {
        let f = Filters { region: Some("a\"b OR kind = x".into()), trl_min: Some(3), ..Default::default() };
        assert_eq!(filter_expression(&f).unwrap(), "region = \"a\\\"b OR kind = x\" AND trl >= 3");
    }

    #[test]
    fn highlights_prefer_the_version_with_most_marks_and_are_escaped() {
        let mut m = serde_json::Map::new();
        m.insert("title_zh".into(), "无匹配".into());
        m.insert("title_en".into(), "<b> \u{E000}Battery\u{E001}".into());
        m.insert("keywords".into(), serde_json::json!(["a", "\u{E000}b\u{E001}"]));
        let h = highlights(Some(&m), None);
        assert_eq!(h["title"], "&lt;b&gt; <mark>Battery</mark>");
        assert_eq!(h["keywords"], "a, <mark>b</mark>");
    }
}
