//! A deterministic demo catalogue built from real abstracts.
//!
//! Demo, screenshot and load-test data should read like the real thing, so titles, abstracts and
//! keywords come from the public corpora in `shared/data`. What a paper does not say (the kind of
//! right on offer, its price, its patents, which institute sells it) is drawn from a seeded
//! generator, so the same corpora, count and seed always give the same catalogue and a bug seen on
//! a demo instance can be reproduced locally.

use achex_core::{Lang, LangText, Money};
use achex_listing::validation::{DESCRIPTION_MAX, KEYWORDS_MAX, SHORT_TEXT_MAX, TITLE_MAX};
use achex_listing::{Contact, ListingContent, ListingKind, Patent, PatentLegalStatus, TransferMode};
use anyhow::Context;
use chrono::{Datelike, Days, Months, NaiveDate};
use flate2::read::GzDecoder;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// An institute that owns demo listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoInstitute {
    pub name_zh: String,
    pub name_en: String,
    pub region: String,
    pub disciplines: Vec<String>,
}

/// One listing of the demo catalogue, owned by `institutes[institute]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoListing {
    pub institute: usize,
    pub content: ListingContent,
    pub published_days_ago: u32,
}

/// Institutes and the listings they own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCatalogue {
    pub institutes: Vec<DemoInstitute>,
    pub listings: Vec<DemoListing>,
}

const ZH_CORPUS: &str = "zh_sci_abstracts.jsonl.gz";
const EN_CORPUS: &str = "en_arxiv_abstracts.jsonl.gz";

/// Most institutes on the exchange write in Chinese; the English share keeps search, ranking and
/// the language switch exercised.
const ZH_PERCENT: usize = 60;
/// Candidates read per listing wanted, so that the seed and not only the file order decides which
/// records appear, while the large arXiv file is still read only as far as needed.
const OVERSAMPLE: usize = 2;
/// Catalogue cards show the summary in full; a few sentences is what fits.
const SUMMARY_CHARS: usize = 300;
/// Below this an abstract is a fragment, not something a buyer could judge a technology by.
const MIN_ABSTRACT_CHARS: usize = 40;
/// Enough to be useful as facets; the corpora rarely give more and arXiv records give none.
const KEYWORDS_PER_LISTING: usize = 8;
const _: () = assert!(KEYWORDS_PER_LISTING <= KEYWORDS_MAX);

/// Patent dates are anchored to a fixed day rather than the clock, otherwise the catalogue would
/// change from one day to the next. It is a little after the newest corpus record.
fn reference_date() -> NaiveDate {
    date(2025, 6, 30)
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a literal calendar date")
}

/// Reads the corpora under `data_dir` and derives `count` listings deterministically from `seed`.
///
/// Fewer than `count` listings come back only when the corpora run out of usable records. Every
/// listing passes [`ListingContent::validate`] and has no screening issues.
pub fn demo_catalogue(data_dir: &Path, count: usize, seed: u64) -> anyhow::Result<DemoCatalogue> {
    // Both files are opened before anything is read so that a missing one is reported at once,
    // whatever the count.
    let zh_path = data_dir.join(ZH_CORPUS);
    let en_path = data_dir.join(EN_CORPUS);
    let zh_file = open_corpus(&zh_path)?;
    let en_file = open_corpus(&en_path)?;
    let mut rng = Rng::new(seed);

    let zh_wanted = count.saturating_mul(ZH_PERCENT).div_ceil(100).min(count);
    let mut sources = read_corpus(zh_file, &zh_path, zh_wanted.saturating_mul(OVERSAMPLE), zh_source)?;
    rng.shuffle(&mut sources);
    sources.truncate(zh_wanted);

    // A short Chinese corpus is made up for with English rather than by returning fewer listings.
    let en_wanted = count - sources.len();
    let mut english = read_corpus(en_file, &en_path, en_wanted.saturating_mul(OVERSAMPLE), en_source)?;
    rng.shuffle(&mut english);
    english.truncate(en_wanted);
    sources.append(&mut english);
    rng.shuffle(&mut sources);

    let mut owners: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, institute) in INSTITUTES.iter().enumerate() {
        for &discipline in institute.disciplines {
            owners.entry(discipline).or_default().push(index);
        }
    }
    let mut generator = Generator { seed, owners, patent_numbers: HashSet::new() };
    let listings = sources.iter().filter_map(|source| generator.listing(source)).collect();

    let institutes = INSTITUTES
        .iter()
        .map(|spec| DemoInstitute {
            name_zh: spec.name_zh.to_owned(),
            name_en: spec.name_en.to_owned(),
            region: spec.region.to_owned(),
            disciplines: spec.disciplines.iter().map(|d| (*d).to_owned()).collect(),
        })
        .collect();
    Ok(DemoCatalogue { institutes, listings })
}

// ---------------------------------------------------------------------------------------------
// Reading the corpora

/// The fields of a corpus line this module uses; the rest (authors, source, …) is skipped.
#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default, rename = "abstract")]
    abstract_text: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    discipline: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    primary_category: String,
}

/// A record that can become a listing, its text already cleaned and checked against the validation
/// limits: the corpus text is the only input the generator does not control.
struct Source {
    id: String,
    lang: Lang,
    title: String,
    text: String,
    keywords: Vec<String>,
    discipline: &'static str,
    field: Field,
}

fn open_corpus(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("cannot open demo corpus {}", path.display()))
}

fn read_corpus(
    file: File,
    path: &Path,
    wanted: usize,
    accept: impl Fn(Record) -> Option<Source>,
) -> anyhow::Result<Vec<Source>> {
    let mut found = Vec::new();
    if wanted == 0 {
        return Ok(found);
    }
    for (index, line) in BufReader::new(GzDecoder::new(file)).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {} at line {}", path.display(), index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a corpus record", path.display(), index + 1))?;
        if let Some(source) = accept(record) {
            found.push(source);
            if found.len() >= wanted {
                break;
            }
        }
    }
    Ok(found)
}

fn zh_source(record: Record) -> Option<Source> {
    let &(discipline, field) = ZH_DISCIPLINES.iter().find(|(name, _)| *name == record.discipline.trim())?;
    let title = record.title.trim();
    let text = record.abstract_text.trim();
    // Some CSL abstracts were cut off mid-sentence when the corpus was built; a description that
    // stops in the middle of a word looks like a bug in the exchange.
    if !text.ends_with(['.', '。', '．', '!', '?', '！', '？', '”', ')', '）']) {
        return None;
    }
    usable(title, text).then(|| Source {
        id: record.id,
        lang: Lang::Zh,
        title: title.to_owned(),
        text: text.to_owned(),
        keywords: clean_keywords(record.keywords),
        discipline,
        field,
    })
}

fn en_source(record: Record) -> Option<Source> {
    let (discipline, field) = arxiv_discipline(&record.primary_category)?;
    let title = collapse_whitespace(&untex(&record.title));
    // TeX in a title would show as raw dollar signs on every catalogue card.
    if title.contains('$') {
        return None;
    }
    // arXiv abstracts keep the line breaks of the submission form; they mean nothing in a listing.
    let text = collapse_whitespace(&untex(&record.abstract_text));
    if !usable(&title, &text) {
        return None;
    }
    let category_names = record
        .categories
        .iter()
        .filter_map(|code| ARXIV_CATEGORY_NAMES.iter().find(|(c, _)| *c == code.as_str()))
        .map(|&(_, name)| name.to_owned());
    let keywords = defined_terms(&text).into_iter().take(4).chain(category_names);
    Some(Source { id: record.id, lang: Lang::En, title, text, keywords: clean_keywords(keywords), discipline, field })
}

fn usable(title: &str, text: &str) -> bool {
    let text_chars = text.chars().count();
    !title.is_empty()
        && title.chars().count() <= TITLE_MAX
        && (MIN_ABSTRACT_CHARS..=DESCRIPTION_MAX).contains(&text_chars)
}

/// arXiv titles and abstracts are TeX source. These escapes are common enough to be worth undoing;
/// rarer markup is left as the authors wrote it rather than guessed at.
const TEX_REPLACEMENTS: &[(&str, &str)] =
    &[("\\%", "%"), ("\\&", "&"), ("\\_", "_"), ("\\#", "#"), ("$\\times$", "×"), ("$\\sim$", "~")];

fn untex(s: &str) -> String {
    TEX_REPLACEMENTS.iter().fold(s.to_owned(), |text, (tex, plain)| text.replace(tex, plain))
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Some corpus keywords are scraping debris (a whole English title glued to a term); dropping what
/// validation would refuse removes those too.
fn clean_keywords(raw: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    raw.into_iter()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty() && k.chars().count() <= SHORT_TEXT_MAX && seen.insert(k.to_lowercase()))
        .take(KEYWORDS_PER_LISTING)
        .collect()
}

/// Terms an abstract defines with an acronym, as in "Neural Radiance Fields (NeRF)". arXiv records
/// carry no keywords, and these are the phrases the authors themselves chose to name.
fn defined_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('(') {
        let before = &rest[..open];
        rest = &rest[open + 1..];
        let Some(close) = rest.find(')') else { break };
        if let Some(term) = expand_acronym(before, &rest[..close])
            && !terms.contains(&term)
        {
            terms.push(term);
        }
    }
    terms
}

/// Initials no one puts in an acronym; a phrase that needs them is a false match
/// ("state-of-the-art (SOTA)") or not a term worth a keyword.
const FUNCTION_WORDS: &[&str] = &["a", "an", "and", "for", "in", "of", "on", "the", "to", "with"];

/// The words just before `before`'s end whose initials spell `acronym`, e.g. "large
/// vision-language models" for "LVLMs". Strict on purpose: a wrong keyword is worse than none.
fn expand_acronym(before: &str, acronym: &str) -> Option<String> {
    let letters: Vec<char> = acronym.chars().filter(char::is_ascii_uppercase).map(|c| c.to_ascii_lowercase()).collect();
    if !(2..=6).contains(&letters.len())
        || !acronym.starts_with(|c: char| c.is_ascii_uppercase())
        || !acronym.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return None;
    }
    let mut remaining = letters.len();
    let mut words = Vec::new();
    for word in before.trim_end().rsplit(' ') {
        // Punctuation means the phrase would cross into the previous clause.
        if word.is_empty() || !word.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return None;
        }
        for part in word.rsplit('-') {
            // Letters left over in this word would put the term's start inside it.
            if remaining == 0 {
                return None;
            }
            let initial = part.chars().next()?.to_ascii_lowercase();
            if initial != letters[remaining - 1] || FUNCTION_WORDS.contains(&part.to_lowercase().as_str()) {
                return None;
            }
            remaining -= 1;
        }
        words.push(word);
        if remaining == 0 {
            words.reverse();
            return Some(words.join(" "));
        }
    }
    None
}

/// The first sentences of `text` that fit in [`SUMMARY_CHARS`], stopping once there is enough to
/// read as a summary. A first sentence too long to fit is cut and marked with an ellipsis.
fn summarize(text: &str, lang: Lang) -> String {
    // Chinese packs more into a character, so fewer make a summary.
    let enough = match lang {
        Lang::Zh => 60,
        Lang::En => 150,
    };
    let mut cut = None;
    for (end, chars) in sentence_ends(text, lang) {
        if chars > SUMMARY_CHARS {
            break;
        }
        cut = Some(end);
        if chars >= enough {
            break;
        }
    }
    if let Some(end) = cut {
        return text[..end].trim().to_owned();
    }
    let mut head: String = text.chars().take(SUMMARY_CHARS - 1).collect();
    if lang == Lang::En
        && let Some(space) = head.rfind(' ')
    {
        head.truncate(space);
    }
    let head = head.trim_end_matches(|c: char| c.is_whitespace() || ",;:，；：、".contains(c));
    format!("{head}…")
}

/// Byte offsets just past each sentence end, with the number of characters up to there.
///
/// The Chinese corpus mostly ends sentences with an ASCII full stop, so a `.` counts unless a
/// letter or digit follows (as in "0.05" or "e.g."); in English a sentence must also be followed by
/// a space and a capital.
fn sentence_ends(text: &str, lang: Lang) -> Vec<(usize, usize)> {
    let mut ends = Vec::new();
    let mut chars = text.char_indices().enumerate().peekable();
    while let Some((count, (at, c))) = chars.next() {
        let next = chars.peek().map(|&(_, (_, n))| n);
        let is_end = match c {
            '。' | '！' | '？' => true,
            '.' | '．' | '!' | '?' => match lang {
                Lang::Zh => next.is_none_or(|n| !n.is_ascii_alphanumeric()),
                Lang::En => {
                    next.is_none()
                        || (next.is_some_and(char::is_whitespace)
                            && text[at + c.len_utf8()..].trim_start().starts_with(|n: char| n.is_uppercase()))
                }
            },
            _ => false,
        };
        if is_end {
            ends.push((at + c.len_utf8(), count + 1));
        }
    }
    ends
}

// ---------------------------------------------------------------------------------------------
// Deriving what the papers do not say

/// SplitMix64. Hand-written so the catalogue cannot change when a `rand` release changes its
/// algorithms.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A stream of its own for each record, so a record keeps its kind, price and patents whatever
    /// else is in the catalogue.
    fn for_record(seed: u64, id: &str) -> Self {
        // FNV-1a: any stable string hash would do; this one needs no dependency.
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let mut mixer = Rng::new(seed);
        Rng::new(mixer.next_u64() ^ hash)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n`; multiply-shift keeps the bias of a plain modulo away from small values.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn percent(&mut self, chance: u64) -> bool {
        self.below(100) < chance
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn weighted<T: Copy>(&mut self, choices: &[(T, u64)]) -> T {
        let mut roll = self.below(choices.iter().map(|(_, w)| w).sum());
        for &(choice, weight) in choices {
            if roll < weight {
                return choice;
            }
            roll -= weight;
        }
        choices[choices.len() - 1].0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

struct Generator {
    seed: u64,
    /// Institutes covering each discipline name.
    owners: HashMap<&'static str, Vec<usize>>,
    /// Two listings naming the same patent would look like a data error to anyone trying the demo.
    patent_numbers: HashSet<String>,
}

impl Generator {
    fn listing(&mut self, source: &Source) -> Option<DemoListing> {
        let mut rng = Rng::for_record(self.seed, &source.id);
        let institute = *rng.pick(self.owners.get(source.discipline)?);
        let spec = &INSTITUTES[institute];
        let kind = rng.weighted(source.field.kinds());
        let trl = rng.between(2, 8) as u8;

        let mut ipc_classes: Vec<String> = source.field.ipc().iter().map(|c| (*c).to_owned()).collect();
        rng.shuffle(&mut ipc_classes);
        // A patent always carries a classification; other kinds often are not classified at all.
        let classified = if kind.requires_patent() { rng.between(1, 2) } else { rng.below(2) };
        ipc_classes.truncate(classified as usize);

        let mut patents = Vec::new();
        if kind.requires_patent() {
            let wanted = if kind == ListingKind::InventionPatent && rng.percent(20) { 2 } else { 1 };
            while patents.len() < wanted {
                let patent = patent(&mut rng, kind);
                if self.patent_numbers.insert(patent.number.clone()) {
                    patents.push(patent);
                }
            }
        }

        let mut transfer_modes = TransferMode::ALL.to_vec();
        rng.shuffle(&mut transfer_modes);
        transfer_modes.truncate(rng.weighted(&[(1, 45), (2, 40), (3, 15)]));
        transfer_modes.sort();

        let text = |s: &str| match source.lang {
            Lang::Zh => LangText::zh(s),
            Lang::En => LangText::en(s),
        };
        let content = ListingContent {
            title: text(&source.title),
            summary: text(&summarize(&source.text, source.lang)),
            description: text(&source.text),
            kind,
            trl,
            ipc_classes,
            patents,
            transfer_modes,
            asking_price: asking_price(&mut rng),
            keywords: source.keywords.clone(),
            discipline: source.discipline.to_owned(),
            region: spec.region.to_owned(),
            contact: contact(&mut rng, source.lang, spec.domain),
        };
        Some(DemoListing { institute, content, published_days_ago: rng.below(366) as u32 })
    }
}

/// Technology prices cluster at the low end: most go for well under a million yuan. Ranges are in
/// thousands of yuan so every price is a round ¥1,000.
const PRICE_TIERS: &[((u64, u64), u64)] = &[((50, 200), 45), ((200, 1_000), 40), ((1_000, 5_000), 15)];

fn asking_price(rng: &mut Rng) -> Option<Money> {
    if rng.percent(20) {
        return None;
    }
    let (low, high) = rng.weighted(PRICE_TIERS);
    let fen_per_thousand_yuan = 1_000 * 100;
    Some(Money::cny(rng.between(low, high) as i64 * fen_per_thousand_yuan))
}

const SURNAMES: &[(&str, &str)] = &[
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("赵", "Zhao"),
    ("黄", "Huang"),
    ("周", "Zhou"),
    ("吴", "Wu"),
    ("徐", "Xu"),
    ("孙", "Sun"),
    ("胡", "Hu"),
    ("朱", "Zhu"),
    ("高", "Gao"),
    ("林", "Lin"),
    ("何", "He"),
    ("郭", "Guo"),
    ("马", "Ma"),
    ("罗", "Luo"),
];

const GIVEN_NAMES: &[(&str, &str)] = &[
    ("伟", "Wei"),
    ("芳", "Fang"),
    ("敏", "Min"),
    ("静", "Jing"),
    ("磊", "Lei"),
    ("洋", "Yang"),
    ("勇", "Yong"),
    ("艳", "Yan"),
    ("杰", "Jie"),
    ("涛", "Tao"),
    ("明", "Ming"),
    ("超", "Chao"),
    ("晓东", "Xiaodong"),
    ("海燕", "Haiyan"),
    ("志强", "Zhiqiang"),
    ("文博", "Wenbo"),
    ("雨欣", "Yuxin"),
    ("建华", "Jianhua"),
    ("丽娟", "Lijuan"),
    ("国栋", "Guodong"),
];

/// Addresses are under `example.org` (reserved by RFC 2606) so that a demo instance that sends
/// mail can never reach a real person at a real institute.
fn contact(rng: &mut Rng, lang: Lang, domain: &str) -> Contact {
    let (surname_zh, surname_en) = *rng.pick(SURNAMES);
    let (given_zh, given_en) = *rng.pick(GIVEN_NAMES);
    let name = match lang {
        Lang::Zh => format!("{surname_zh}{given_zh}"),
        Lang::En => format!("{given_en} {surname_en}"),
    };
    let email = format!("{}.{}@{domain}.example.org", given_en.to_lowercase(), surname_en.to_lowercase());
    Contact { name, email: Some(email), phone: None }
}

/// Only pending and granted patents: the demo should show listings that pass screening.
fn patent(rng: &mut Rng, kind: ListingKind) -> Patent {
    match kind {
        // Utility models are not examined, so they are published already granted.
        ListingKind::UtilityModel => granted_patent(rng, 2, date(2019, 1, 1), (120, 420), 10),
        _ if rng.percent(40) => pending_patent(rng),
        _ => granted_patent(rng, 1, date(2013, 1, 1), (540, 1_460), 20),
    }
}

/// A granted patent is numbered `ZL` + its application number: filing year, kind digit (1
/// invention, 2 utility model), seven-digit serial and the office's check digit.
fn granted_patent(
    rng: &mut Rng,
    kind_digit: u8,
    earliest_filing: NaiveDate,
    examination_days: (u64, u64),
    term_years: u32,
) -> Patent {
    let examination = Days::new(rng.between(examination_days.0, examination_days.1));
    let latest_filing = reference_date() - examination;
    let span = u64::try_from((latest_filing - earliest_filing).num_days()).unwrap_or(0);
    let filed = earliest_filing + Days::new(rng.below(span + 1));
    let application = format!("{}{kind_digit}{:07}", filed.year(), rng.below(10_000_000));
    Patent {
        number: format!("ZL{application}.{}", cn_check_digit(&application)),
        legal_status: PatentLegalStatus::Granted,
        filed_on: Some(filed),
        granted_on: Some(filed + examination),
        // The term runs from filing, not from grant.
        expires_on: filed.checked_add_months(Months::new(12 * term_years)),
    }
}

/// CNIPA publication-number prefixes (the first three digits) by year of publication.
const CN_PUBLICATION_PREFIXES: &[(i32, [u32; 2])] =
    &[(2022, [114, 115]), (2023, [116, 117]), (2024, [117, 118]), (2025, [119, 120])];

/// A pending invention application is known by its publication number, which appears about
/// eighteen months after filing. It has no expiry yet: the term only matters once granted.
fn pending_patent(rng: &mut Rng) -> Patent {
    let earliest = date(2021, 1, 1);
    let span = u64::try_from((date(2024, 6, 30) - earliest).num_days()).unwrap_or(0);
    let filed = earliest + Days::new(rng.below(span + 1));
    let prefixes = CN_PUBLICATION_PREFIXES
        .iter()
        .find(|(year, _)| *year == filed.year() + 1)
        .map_or([120, 120], |(_, prefixes)| *prefixes);
    Patent {
        number: format!("CN{}{:06}A", rng.pick(&prefixes), rng.below(1_000_000)),
        legal_status: PatentLegalStatus::Pending,
        filed_on: Some(filed),
        granted_on: None,
        expires_on: None,
    }
}

/// The check digit of a 12-digit Chinese application number: digits weighted 2…9, 2…5, sum mod 11,
/// 10 written as X. Real-looking numbers keep the demo from teaching users that any digits will do.
fn cn_check_digit(application: &str) -> char {
    const WEIGHTS: [u32; 12] = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5];
    let sum: u32 = application.bytes().zip(WEIGHTS).map(|(digit, weight)| u32::from(digit - b'0') * weight).sum();
    match sum % 11 {
        10 => 'X',
        r => char::from(b'0' + r as u8),
    }
}

// ---------------------------------------------------------------------------------------------
// Disciplines and institutes

/// Broad technical areas: what decides plausible listing kinds and IPC classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Computing,
    Electronics,
    Chemistry,
    Materials,
    Machinery,
    Construction,
    Earth,
    /// Plant sciences, where new plant varieties are a common right.
    Crops,
    Agriculture,
    LightIndustry,
    Medicine,
    Science,
}

impl Field {
    fn kinds(self) -> &'static [(ListingKind, u64)] {
        use ListingKind as K;
        match self {
            Field::Computing => {
                &[(K::InventionPatent, 45), (K::UtilityModel, 5), (K::SoftwareCopyright, 35), (K::KnowHow, 15)]
            }
            Field::Electronics => &[
                (K::InventionPatent, 55),
                (K::UtilityModel, 15),
                (K::IcLayout, 15),
                (K::SoftwareCopyright, 5),
                (K::KnowHow, 10),
            ],
            Field::Crops => {
                &[(K::InventionPatent, 45), (K::UtilityModel, 10), (K::NewPlantVariety, 30), (K::KnowHow, 15)]
            }
            Field::Medicine => &[(K::InventionPatent, 75), (K::UtilityModel, 10), (K::KnowHow, 15)],
            // Theory-heavy work is rarely embodied in a device, so no utility models.
            Field::Science => &[(K::InventionPatent, 60), (K::KnowHow, 30), (K::SoftwareCopyright, 10)],
            _ => &[(K::InventionPatent, 65), (K::UtilityModel, 20), (K::KnowHow, 15)],
        }
    }

    fn ipc(self) -> &'static [&'static str] {
        match self {
            Field::Computing => {
                &["G06F 16/35", "G06F 40/30", "G06N 3/08", "G06N 3/045", "G06T 7/00", "G06V 10/82", "H04L 9/40"]
            }
            Field::Electronics => &["H01L 21/02", "H01L 29/78", "H03K 17/687", "G02B 6/12", "H01S 5/343", "H02J 3/38"],
            Field::Chemistry => &["B01J 23/755", "C07C 1/04", "C10G 45/08", "H01M 4/86", "C01B 3/38", "F23C 10/00"],
            Field::Materials => &["C22C 38/02", "C04B 35/622", "C08L 63/00", "B22F 3/105", "C23C 14/35", "C21D 8/02"],
            Field::Machinery => &["B23K 26/38", "F16H 1/28", "B60L 53/10", "B63B 35/00", "B64C 27/08", "G01M 5/00"],
            Field::Construction => &["E04B 1/98", "E01D 19/00", "E02D 17/20", "E21D 11/10", "E02B 3/04", "G01C 15/00"],
            Field::Earth => &["G01W 1/10", "G01V 1/28", "C02F 9/00", "B01D 53/86", "G01N 33/18", "G01S 13/95"],
            Field::Crops => &["A01H 6/46", "A01H 4/00", "A01G 22/00", "A01G 9/14", "C12N 15/82"],
            Field::Agriculture => &["A01N 43/40", "A01K 61/10", "A23K 10/30", "A01B 79/00", "C05G 3/00"],
            Field::LightIndustry => &["A23L 2/38", "A23L 3/3463", "A23C 9/12", "C12G 3/02", "D01F 6/62", "D06M 15/564"],
            Field::Medicine => &["A61K 36/48", "A61K 31/4709", "A61P 9/12", "C07D 401/14", "A61B 5/00", "G16H 50/20"],
            Field::Science => &["G01J 3/28", "G21C 3/00", "G01T 1/20", "G06F 17/10", "G01N 21/65", "G02F 1/35"],
        }
    }
}

/// The CSL disciplines of engineering, agriculture, medicine and science. Humanities, law,
/// economics and management papers are left out: they do not describe transferable technology.
const ZH_DISCIPLINES: &[(&str, Field)] = &[
    ("计算机科学与技术", Field::Computing),
    ("信息与通信工程", Field::Computing),
    ("控制科学与工程", Field::Computing),
    ("电子科学与技术", Field::Electronics),
    ("光学工程", Field::Electronics),
    ("电气工程", Field::Electronics),
    ("化学/化学工程与技术", Field::Chemistry),
    ("石油与天然气工程", Field::Chemistry),
    ("动力工程及工程热物理", Field::Chemistry),
    ("材料科学与工程", Field::Materials),
    ("冶金工程", Field::Materials),
    ("机械工程", Field::Machinery),
    ("交通运输工程", Field::Machinery),
    ("船舶与海洋工程", Field::Machinery),
    ("航空宇航科学与技术", Field::Machinery),
    ("兵器科学与技术", Field::Machinery),
    ("土木工程", Field::Construction),
    ("水利工程", Field::Construction),
    ("建筑学", Field::Construction),
    ("矿业工程", Field::Construction),
    ("测绘科学与技术", Field::Construction),
    ("环境科学与工程", Field::Earth),
    ("地理学", Field::Earth),
    ("地质学/地质资源与地质工程", Field::Earth),
    ("海洋科学", Field::Earth),
    ("大气科学", Field::Earth),
    ("地球物理学", Field::Earth),
    ("作物学", Field::Crops),
    ("园艺学", Field::Crops),
    ("林学/林业工程", Field::Crops),
    ("生物学/生物科学与工程", Field::Crops),
    ("植物保护", Field::Agriculture),
    ("农业资源利用", Field::Agriculture),
    ("农业工程", Field::Agriculture),
    ("畜牧学/兽医学", Field::Agriculture),
    ("水产", Field::Agriculture),
    ("食品科学与工程", Field::LightIndustry),
    ("纺织科学与工程", Field::LightIndustry),
    ("药学", Field::Medicine),
    ("中医学/中药学", Field::Medicine),
    ("基础医学/临床医学", Field::Medicine),
    ("口腔医学", Field::Medicine),
    ("公共卫生与预防医学", Field::Medicine),
    ("数学", Field::Science),
    ("物理学", Field::Science),
    ("天文学", Field::Science),
    ("核科学与技术", Field::Science),
    ("力学", Field::Science),
];

const PHYSICS_ARCHIVES: &[&str] = &[
    "physics", "cond-mat", "quant-ph", "gr-qc", "nlin", "math-ph", "hep-ph", "hep-th", "hep-ex", "hep-lat", "nucl-th",
    "nucl-ex",
];

/// A readable discipline for an arXiv primary category.
fn arxiv_discipline(primary: &str) -> Option<(&'static str, Field)> {
    let archive = primary.split('.').next().unwrap_or(primary);
    Some(match (primary, archive) {
        ("physics.med-ph", _) => ("Medical Physics", Field::Medicine),
        ("cond-mat.mtrl-sci", _) => ("Materials Science", Field::Materials),
        (_, "cs") => ("Computer Science", Field::Computing),
        (_, "eess") => ("Electrical Engineering and Systems Science", Field::Electronics),
        (_, "math") => ("Mathematics", Field::Science),
        (_, "stat") => ("Statistics", Field::Science),
        (_, "astro-ph") => ("Astrophysics", Field::Science),
        (_, "q-bio") => ("Quantitative Biology", Field::Medicine),
        (_, archive) if PHYSICS_ARCHIVES.contains(&archive) => ("Physics", Field::Science),
        // Economics and finance papers describe no transferable technology.
        _ => return None,
    })
}

/// Names of the arXiv categories common in the corpus, used as English keywords. Records also list
/// ACM and MSC codes ("I.2.7", "68T50") among their categories; those are not words anyone searches.
const ARXIV_CATEGORY_NAMES: &[(&str, &str)] = &[
    ("cs.AI", "Artificial Intelligence"),
    ("cs.AR", "Hardware Architecture"),
    ("cs.CE", "Computational Engineering"),
    ("cs.CL", "Computation and Language"),
    ("cs.CR", "Cryptography and Security"),
    ("cs.CV", "Computer Vision"),
    ("cs.CY", "Computers and Society"),
    ("cs.DB", "Databases"),
    ("cs.DC", "Distributed Computing"),
    ("cs.DL", "Digital Libraries"),
    ("cs.ET", "Emerging Technologies"),
    ("cs.GR", "Graphics"),
    ("cs.HC", "Human-Computer Interaction"),
    ("cs.IR", "Information Retrieval"),
    ("cs.IT", "Information Theory"),
    ("cs.LG", "Machine Learning"),
    ("cs.MA", "Multiagent Systems"),
    ("cs.MM", "Multimedia"),
    ("cs.NE", "Neural and Evolutionary Computing"),
    ("cs.NI", "Networking"),
    ("cs.PL", "Programming Languages"),
    ("cs.RO", "Robotics"),
    ("cs.SD", "Sound"),
    ("cs.SE", "Software Engineering"),
    ("cs.SI", "Social and Information Networks"),
    ("cs.SY", "Systems and Control"),
    ("eess.AS", "Audio and Speech Processing"),
    ("eess.IV", "Image and Video Processing"),
    ("eess.SP", "Signal Processing"),
    ("eess.SY", "Systems and Control"),
    ("stat.ML", "Machine Learning"),
    ("physics.med-ph", "Medical Physics"),
    ("physics.optics", "Optics"),
    ("q-bio.NC", "Neurons and Cognition"),
    ("q-bio.QM", "Quantitative Methods"),
    ("cond-mat.mtrl-sci", "Materials Science"),
    ("math.OC", "Optimization and Control"),
    ("quant-ph", "Quantum Physics"),
];

struct InstituteSpec {
    name_zh: &'static str,
    name_en: &'static str,
    region: &'static str,
    /// Becomes `<domain>.example.org` in contact addresses.
    domain: &'static str,
    /// Chinese names for Chinese records, English ones for arXiv records: a listing's discipline is
    /// written in the listing's language.
    disciplines: &'static [&'static str],
}

/// Real institutes known for the disciplines they are given, so the demo reads plausibly; several
/// disciplines have more than one owner so the catalogue is not partitioned by subject.
const INSTITUTES: &[InstituteSpec] = &[
    InstituteSpec {
        name_zh: "中国科学院计算技术研究所",
        name_en: "Institute of Computing Technology, CAS",
        region: "北京",
        domain: "ict",
        disciplines: &["计算机科学与技术", "信息与通信工程", "控制科学与工程", "Computer Science"],
    },
    InstituteSpec {
        name_zh: "中国科学院大连化学物理研究所",
        name_en: "Dalian Institute of Chemical Physics, CAS",
        region: "大连",
        domain: "dicp",
        disciplines: &[
            "化学/化学工程与技术",
            "动力工程及工程热物理",
            "石油与天然气工程",
            "环境科学与工程",
            "Materials Science",
        ],
    },
    InstituteSpec {
        name_zh: "中国科学技术大学",
        name_en: "University of Science and Technology of China",
        region: "合肥",
        domain: "ustc",
        disciplines: &[
            "数学",
            "物理学",
            "天文学",
            "核科学与技术",
            "力学",
            "计算机科学与技术",
            "Computer Science",
            "Mathematics",
            "Statistics",
            "Physics",
            "Astrophysics",
        ],
    },
    InstituteSpec {
        name_zh: "中国科学院上海微系统与信息技术研究所",
        name_en: "Shanghai Institute of Microsystem and Information Technology, CAS",
        region: "上海",
        domain: "mail.sim",
        disciplines: &[
            "电子科学与技术",
            "光学工程",
            "电气工程",
            "信息与通信工程",
            "Electrical Engineering and Systems Science",
            "Computer Science",
        ],
    },
    InstituteSpec {
        name_zh: "华中科技大学",
        name_en: "Huazhong University of Science and Technology",
        region: "武汉",
        domain: "hust",
        disciplines: &[
            "机械工程",
            "电气工程",
            "交通运输工程",
            "船舶与海洋工程",
            "建筑学",
            "基础医学/临床医学",
            "Computer Science",
            "Electrical Engineering and Systems Science",
        ],
    },
    InstituteSpec {
        name_zh: "中国科学院金属研究所",
        name_en: "Institute of Metal Research, CAS",
        region: "沈阳",
        domain: "imr",
        disciplines: &["材料科学与工程", "冶金工程", "Materials Science"],
    },
    InstituteSpec {
        name_zh: "中国农业科学院作物科学研究所",
        name_en: "Institute of Crop Sciences, CAAS",
        region: "北京",
        domain: "caas",
        disciplines: &["作物学", "园艺学", "植物保护", "农业资源利用", "林学/林业工程", "生物学/生物科学与工程"],
    },
    InstituteSpec {
        name_zh: "江南大学",
        name_en: "Jiangnan University",
        region: "无锡",
        domain: "jiangnan",
        disciplines: &[
            "食品科学与工程",
            "纺织科学与工程",
            "水产",
            "畜牧学/兽医学",
            "农业工程",
            "生物学/生物科学与工程",
        ],
    },
    InstituteSpec {
        name_zh: "中国科学院上海药物研究所",
        name_en: "Shanghai Institute of Materia Medica, CAS",
        region: "上海",
        domain: "simm",
        disciplines: &[
            "药学",
            "中医学/中药学",
            "基础医学/临床医学",
            "口腔医学",
            "公共卫生与预防医学",
            "Quantitative Biology",
            "Medical Physics",
        ],
    },
    InstituteSpec {
        name_zh: "中国科学院武汉岩土力学研究所",
        name_en: "Institute of Rock and Soil Mechanics, CAS",
        region: "武汉",
        domain: "whrsm",
        disciplines: &["土木工程", "水利工程", "矿业工程", "测绘科学与技术", "地质学/地质资源与地质工程", "地球物理学"],
    },
    InstituteSpec {
        name_zh: "中国科学院大气物理研究所",
        name_en: "Institute of Atmospheric Physics, CAS",
        region: "北京",
        domain: "iap",
        disciplines: &["大气科学", "地理学", "海洋科学", "环境科学与工程", "地球物理学"],
    },
    InstituteSpec {
        name_zh: "西北工业大学",
        name_en: "Northwestern Polytechnical University",
        region: "西安",
        domain: "nwpu",
        disciplines: &["航空宇航科学与技术", "兵器科学与技术", "船舶与海洋工程", "力学", "材料科学与工程", "机械工程"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    const COUNT: usize = 300;
    const SEED: u64 = 20_250_630;
    /// One primary category per readable discipline `arxiv_discipline` can give.
    const ARXIV_SAMPLES: [&str; 10] = [
        "cs.CV",
        "eess.IV",
        "math.OC",
        "stat.ML",
        "astro-ph.GA",
        "q-bio.NC",
        "quant-ph",
        "hep-th",
        "physics.med-ph",
        "cond-mat.mtrl-sci",
    ];

    /// `ACHEX_SHARED_DATA` lets the tests run from a checkout that is not next to `shared/`.
    fn data_dir() -> PathBuf {
        std::env::var_os("ACHEX_SHARED_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")))
    }

    fn catalogue() -> &'static DemoCatalogue {
        static CATALOGUE: OnceLock<DemoCatalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| demo_catalogue(&data_dir(), COUNT, SEED).expect("the shared corpora are readable"))
    }

    fn field_of(discipline: &str) -> Field {
        ZH_DISCIPLINES
            .iter()
            .find(|(name, _)| *name == discipline)
            .map(|&(_, field)| field)
            .or_else(|| {
                ARXIV_SAMPLES
                    .into_iter()
                    .filter_map(arxiv_discipline)
                    .find(|(name, _)| *name == discipline)
                    .map(|(_, field)| field)
            })
            .unwrap_or_else(|| panic!("{discipline} is in no table"))
    }

    fn language(content: &ListingContent) -> Lang {
        if content.title.has(Lang::Zh) { Lang::Zh } else { Lang::En }
    }

    #[test]
    fn every_demo_listing_passes_validation_and_screening() {
        let catalogue = catalogue();
        assert_eq!(catalogue.listings.len(), COUNT);
        for listing in &catalogue.listings {
            let content = &listing.content;
            if let Err(errors) = content.validate() {
                panic!("{:?} is invalid: {:?}", content.title, errors.errors);
            }
            assert_eq!(content.screening_issues(), vec![], "{:?}", content.title);
            let summary = content.summary.best(Lang::Zh).expect("a summary");
            assert!(summary.chars().count() <= SUMMARY_CHARS, "{summary}");
            assert!((2..=8).contains(&content.trl));
            assert!((1..=3).contains(&content.transfer_modes.len()));
            assert!(content.ipc_classes.len() <= 2);
            assert!(listing.published_days_ago <= 365);
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_catalogue() {
        let again = demo_catalogue(&data_dir(), COUNT, SEED).unwrap();
        assert_eq!(&again, catalogue());
        let other = demo_catalogue(&data_dir(), COUNT, SEED + 1).unwrap();
        assert_ne!(other.listings, catalogue().listings);
    }

    #[test]
    fn the_catalogue_mixes_chinese_and_english() {
        let zh = catalogue().listings.iter().filter(|l| language(&l.content) == Lang::Zh).count();
        assert_eq!(zh, COUNT * ZH_PERCENT / 100);
        // Interleaved, not one language after the other.
        let first_half_zh = catalogue().listings[..COUNT / 2].iter().filter(|l| language(&l.content) == Lang::Zh);
        assert!((60..=120).contains(&first_half_zh.count()));
    }

    #[test]
    fn every_listing_belongs_to_an_institute_covering_its_discipline() {
        let catalogue = catalogue();
        assert!((8..=12).contains(&catalogue.institutes.len()));
        for listing in &catalogue.listings {
            let institute = &catalogue.institutes[listing.institute];
            assert!(institute.disciplines.contains(&listing.content.discipline), "{}", listing.content.discipline);
            assert_eq!(listing.content.region, institute.region);
        }
        let used: HashSet<usize> = catalogue.listings.iter().map(|l| l.institute).collect();
        assert!(used.len() >= 8, "only {} institutes have listings", used.len());
    }

    #[test]
    fn kinds_prices_and_patents_are_varied_and_plausible() {
        let listings = &catalogue().listings;
        let kinds: HashSet<ListingKind> = listings.iter().map(|l| l.content.kind).collect();
        assert!(kinds.len() >= 5, "{kinds:?}");
        let negotiable = listings.iter().filter(|l| l.content.asking_price.is_none()).count();
        assert!((COUNT / 10..=COUNT * 3 / 10).contains(&negotiable), "{negotiable} negotiable");
        for content in listings.iter().map(|l| &l.content) {
            let field = field_of(&content.discipline);
            match content.kind {
                ListingKind::SoftwareCopyright => {
                    assert!(matches!(field, Field::Computing | Field::Electronics | Field::Science))
                }
                ListingKind::NewPlantVariety => assert_eq!(field, Field::Crops),
                ListingKind::IcLayout => assert_eq!(field, Field::Electronics),
                _ => {}
            }
            if let Some(price) = content.asking_price {
                assert!((5_000_000..=500_000_000).contains(&price.amount) && price.amount % 100_000 == 0, "{price}");
            }
            assert_eq!(content.patents.is_empty(), !content.kind.requires_patent());
            for patent in &content.patents {
                let filed = patent.filed_on.expect("a filing date");
                assert!(filed < reference_date());
                match patent.legal_status {
                    PatentLegalStatus::Granted => {
                        let granted = patent.granted_on.expect("a grant date");
                        assert!(filed < granted && granted <= reference_date());
                        let years = if content.kind == ListingKind::UtilityModel { 10 } else { 20 };
                        assert_eq!(patent.expires_on, filed.checked_add_months(Months::new(12 * years)));
                        let (application, check) = patent.number["ZL".len()..].split_once('.').unwrap();
                        assert_eq!(check, cn_check_digit(application).to_string(), "{}", patent.number);
                    }
                    PatentLegalStatus::Pending => {
                        assert!(patent.number.starts_with("CN") && patent.number.ends_with('A'))
                    }
                    other => panic!("{other:?} would fail screening"),
                }
            }
        }
    }

    #[test]
    fn a_missing_corpus_is_reported_by_its_path() {
        let missing = Path::new("/nonexistent/achex-data");
        let message = format!("{:#}", demo_catalogue(missing, 10, 1).unwrap_err());
        assert!(message.contains("/nonexistent/achex-data/zh_sci_abstracts.jsonl.gz"), "{message}");
    }

    #[test]
    fn every_discipline_has_an_institute_and_every_institute_discipline_is_known() {
        let owned: HashSet<&str> = INSTITUTES.iter().flat_map(|i| i.disciplines.iter().copied()).collect();
        for (name, _) in ZH_DISCIPLINES {
            assert!(owned.contains(name), "nobody covers {name}");
        }
        for code in ARXIV_SAMPLES {
            let (name, _) = arxiv_discipline(code).unwrap();
            assert!(owned.contains(name), "nobody covers {name}");
        }
        for name in owned {
            field_of(name);
            assert!(name.chars().count() <= SHORT_TEXT_MAX);
        }
    }

    #[test]
    fn every_ipc_class_in_the_tables_is_valid() {
        for (_, field) in ZH_DISCIPLINES {
            for class in field.ipc() {
                assert_eq!(achex_listing::ipc::normalize(class).as_deref(), Some(*class));
            }
        }
    }

    #[test]
    fn application_numbers_get_the_official_check_digit() {
        // A real application number, 201710601862.3.
        assert_eq!(cn_check_digit("201710601862"), '3');
    }

    #[test]
    fn summaries_end_at_a_sentence_boundary() {
        let zh = "采用修正的Rodrigues参数(MRP),建立了飞行器姿态控制系统的数学模型,并用P＜0.05的检验比较了两种设计方法的收敛速度.仿真结果表明,该方法简化了设计过程.";
        assert_eq!(
            summarize(zh, Lang::Zh),
            "采用修正的Rodrigues参数(MRP),建立了飞行器姿态控制系统的数学模型,并用P＜0.05的检验比较了两种设计方法的收敛速度."
        );
        let first = "We study e.g. graphs. It works. Then we prove a bound of 2.5 on the ratio of the two \
                     quantities over every family of instances we could construct by hand or by search.";
        let en = format!("{first} Finally we test it.");
        assert_eq!(summarize(&en, Lang::En), first);
        let long = "word ".repeat(100);
        let cut = summarize(&long, Lang::En);
        assert!(cut.chars().count() <= SUMMARY_CHARS && cut.ends_with("word…"), "{cut}");
        let long_zh = "很".repeat(400);
        assert_eq!(summarize(&long_zh, Lang::Zh).chars().count(), SUMMARY_CHARS);
    }

    #[test]
    fn common_tex_escapes_in_arxiv_text_are_undone() {
        assert_eq!(
            untex(r"cuts cost by 50\% and runs 5$\times$ faster on R\&D data"),
            "cuts cost by 50% and runs 5× faster on R&D data"
        );
    }

    #[test]
    fn acronym_definitions_become_keywords() {
        let text = "Unlike Neural Radiance Fields (NeRF) based methods, large vision-language models (LVLMs) \
                    and Hierarchical Key-Value Equalization (HKVE) help; results (see Table 2), \
                    state-of-the-art (SOTA) methods and the nonsense of Foo (BAR) do not.";
        assert_eq!(
            defined_terms(text),
            ["Neural Radiance Fields", "large vision-language models", "Hierarchical Key-Value Equalization"]
        );
    }
}
