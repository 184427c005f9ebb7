//! Turning any user string into analysed query parts. Nothing here can fail: there is no query
//! syntax. Double quotes (ASCII, full-width or Chinese “…” and 「…」) delimit exact phrases; an
//! unmatched quote is ignored; every other character is either part of a word or a separator.
//! Operators such as `AND`, `-x`, `field:value` or parentheses are plain text.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::analysis::{self, RunKind, WordStemmer};
use crate::synonyms::SYNONYM_GROUPS;

/// A Latin word of the free text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LatinTerm {
    /// Lower-cased, ASCII-folded, not stemmed.
    pub normalized: String,
    pub stem: String,
    pub count: u32,
}

/// A CJK word of the free text (default jieba cut) with its search-mode sub-words and the
/// character bigrams inside it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CjkTerm {
    pub word: String,
    pub subwords: Vec<String>,
    pub grams: Vec<String>,
    pub count: u32,
}

/// What in the query a synonym expansion stands for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SynonymKey {
    /// A CJK (or mixed) expression found in the lower-cased free text.
    Literal(String),
    /// A run of Latin stems.
    Stems(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Synonym {
    pub key: SynonymKey,
    pub phrase: Phrase,
}

/// One script run of an exact phrase: stems for Latin (matched as a phrase on the text fields),
/// character bigrams for CJK (matched as a phrase on the bigram fields, i.e. as a substring).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PhrasePart {
    Latin(Vec<String>),
    Cjk(Vec<String>),
}

/// An exact phrase: all parts must match.
pub(crate) type Phrase = Vec<PhrasePart>;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct QueryAnalysis {
    /// Free Latin words, stopwords removed unless the query has nothing else.
    pub latin: Vec<LatinTerm>,
    pub cjk: Vec<CjkTerm>,
    /// CJK bigrams spanning two words of a free run (the words' own bigrams are in `cjk`): they
    /// reward listings where the words stand together as in the query.
    pub bridges: Vec<(String, u32)>,
    /// Quoted phrases.
    pub phrases: Vec<Phrase>,
    /// Expressions equivalent to something in the free text (see [`crate::synonyms`]).
    pub synonyms: Vec<Synonym>,
    /// Raw CJK text of the phrases and synonyms, for highlighting.
    pub cjk_literals: Vec<String>,
}

impl QueryAnalysis {
    /// The language the query is written in, when it uses one script only.
    pub fn language(&self) -> Option<achex_core::Lang> {
        let cjk = !self.cjk.is_empty()
            || !self.bridges.is_empty()
            || self.phrases.iter().flatten().any(|p| matches!(p, PhrasePart::Cjk(_)));
        let latin = !self.latin.is_empty() || self.phrases.iter().flatten().any(|p| matches!(p, PhrasePart::Latin(_)));
        match (cjk, latin) {
            (true, false) => Some(achex_core::Lang::Zh),
            (false, true) => Some(achex_core::Lang::En),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.latin.is_empty() && self.cjk.is_empty() && self.bridges.is_empty() && self.phrases.is_empty()
    }
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”' | '„' | '«' | '»' | '「' | '」' | '『' | '』' | '＂')
}

/// The text with every quote character replaced by a space: for listing text used as a query
/// ("more like this"), where quotes are punctuation, not phrase marks.
pub(crate) fn without_quotes(text: &str) -> String {
    text.chars().map(|c| if is_quote(c) { ' ' } else { c }).collect()
}

/// Splits text into (segment, quoted) pieces. Quotes pair up left to right; a final unmatched
/// quote is treated as a separator.
pub(crate) fn split_quotes(text: &str) -> Vec<(&str, bool)> {
    let quotes: Vec<usize> = text.char_indices().filter(|(_, c)| is_quote(*c)).map(|(i, _)| i).collect();
    let paired = quotes.len() - quotes.len() % 2;
    let mut out = Vec::new();
    let mut pos = 0;
    for (k, &q) in quotes[..paired].iter().enumerate() {
        out.push((&text[pos..q], k % 2 == 1));
        pos = q + text[q..].chars().next().map_or(1, char::len_utf8);
    }
    out.push((&text[pos..], false));
    out.retain(|(s, _)| !s.trim().is_empty());
    out
}

/// Analyses an exact phrase (or a synonym expression) into its parts.
pub(crate) fn analyze_phrase(text: &str, stemmer: &mut WordStemmer) -> Phrase {
    let mut parts: Vec<PhrasePart> = Vec::new();
    for run in analysis::runs(text) {
        match run.kind {
            RunKind::Word => {
                let stem = stemmer.stem(&analysis::normalize_word(run.text));
                match parts.last_mut() {
                    Some(PhrasePart::Latin(stems)) => stems.push(stem),
                    _ => parts.push(PhrasePart::Latin(vec![stem])),
                }
            }
            RunKind::Cjk => parts.push(PhrasePart::Cjk(
                analysis::bigrams(run.text).into_iter().map(|(g, _, _)| g.to_string()).collect(),
            )),
        }
    }
    parts
}

/// A synonym expression as it is recognised in a query.
enum Matcher {
    /// Contains CJK: matched as a substring of the lower-cased free text.
    Literal(String),
    /// Latin only: matched as a contiguous run of stems.
    Stems(Vec<String>),
}

struct SynonymTable {
    /// (matcher, group index)
    matchers: Vec<(Matcher, usize)>,
    /// group index → (expression text, analysed expression)
    groups: Vec<Vec<(String, Phrase)>>,
}

static SYNONYMS: LazyLock<SynonymTable> = LazyLock::new(|| {
    let mut stemmer = WordStemmer::default();
    let mut matchers = Vec::new();
    let mut groups = Vec::new();
    for (g, group) in SYNONYM_GROUPS.iter().enumerate() {
        let mut analysed = Vec::new();
        for expr in group.iter() {
            let lower = expr.to_lowercase();
            if lower.chars().any(analysis::is_cjk) {
                matchers.push((Matcher::Literal(lower.clone()), g));
            } else {
                let stems = analysis::runs(&lower)
                    .into_iter()
                    .map(|r| stemmer.stem(&analysis::normalize_word(r.text)))
                    .collect::<Vec<_>>();
                matchers.push((Matcher::Stems(stems), g));
            }
            analysed.push((lower.clone(), analyze_phrase(&lower, &mut stemmer)));
        }
        groups.push(analysed);
    }
    SynonymTable { matchers, groups }
});

/// Analyses a whole query string.
pub(crate) fn analyze_query(text: &str) -> QueryAnalysis {
    let mut stemmer = WordStemmer::default();
    let mut qa = QueryAnalysis::default();
    let mut latin_all: Vec<LatinTerm> = Vec::new();
    // Stem sequence of the free text (None marks a break), for multi-word synonym matching.
    let mut stem_seq: Vec<Option<String>> = Vec::new();
    let mut free_lower = String::new();
    let mut cjk_index: HashMap<String, usize> = HashMap::new();
    let mut bridge_index: HashMap<String, usize> = HashMap::new();
    let mut latin_index: HashMap<String, usize> = HashMap::new();

    for (segment, quoted) in split_quotes(text) {
        if quoted {
            let phrase = analyze_phrase(segment, &mut stemmer);
            if !phrase.is_empty() {
                for run in analysis::runs(segment).into_iter().filter(|r| r.kind == RunKind::Cjk) {
                    qa.cjk_literals.push(run.text.to_string());
                }
                qa.phrases.push(phrase);
            }
            stem_seq.push(None);
            continue;
        }
        free_lower.push_str(&segment.to_lowercase());
        free_lower.push(' ');
        for run in analysis::runs(segment) {
            match run.kind {
                RunKind::Word => {
                    let normalized = analysis::normalize_word(run.text);
                    let stem = stemmer.stem(&normalized);
                    stem_seq.push(Some(stem.clone()));
                    match latin_index.get(&stem) {
                        Some(&i) => latin_all[i].count += 1,
                        None => {
                            latin_index.insert(stem.clone(), latin_all.len());
                            latin_all.push(LatinTerm { normalized, stem, count: 1 });
                        }
                    }
                }
                RunKind::Cjk => {
                    stem_seq.push(None);
                    let words = analysis::cjk_words(run.text);
                    for w in &words {
                        match cjk_index.get(w.word) {
                            Some(&i) => qa.cjk[i].count += 1,
                            None => {
                                cjk_index.insert(w.word.to_string(), qa.cjk.len());
                                qa.cjk.push(CjkTerm {
                                    word: w.word.to_string(),
                                    subwords: w.subwords.iter().map(|(s, _, _)| s.to_string()).collect(),
                                    grams: analysis::bigrams(w.word)
                                        .into_iter()
                                        .filter(|(g, _, _)| g.chars().count() == 2)
                                        .map(|(g, _, _)| g.to_string())
                                        .collect(),
                                    count: 1,
                                });
                            }
                        }
                    }
                    for (g, a, b) in analysis::bigrams(run.text) {
                        let inside = words.iter().any(|w| w.start <= a && b <= w.end);
                        if inside {
                            continue;
                        }
                        match bridge_index.get(g) {
                            Some(&i) => qa.bridges[i].1 += 1,
                            None => {
                                bridge_index.insert(g.to_string(), qa.bridges.len());
                                qa.bridges.push((g.to_string(), 1));
                            }
                        }
                    }
                }
            }
        }
        stem_seq.push(None);
    }

    let latin_content = latin_all.iter().any(|t| !analysis::is_stopword(&t.normalized));
    let cjk_content = qa.cjk.iter().any(|t| !analysis::is_cjk_stopword(&t.word));
    if latin_content || cjk_content || !qa.phrases.is_empty() {
        latin_all.retain(|t| !analysis::is_stopword(&t.normalized));
        qa.cjk.retain(|t| !analysis::is_cjk_stopword(&t.word));
    }
    qa.latin = latin_all;

    // Synonyms: every other expression of each group something in the free text belongs to.
    let table = &*SYNONYMS;
    let mut matched_groups: Vec<(usize, SynonymKey)> = Vec::new();
    for (m, g) in &table.matchers {
        let hit = match m {
            Matcher::Literal(lit) => free_lower.contains(lit.as_str()).then(|| SynonymKey::Literal(lit.clone())),
            Matcher::Stems(stems) => contains_sequence(&stem_seq, stems).then(|| SynonymKey::Stems(stems.clone())),
        };
        if let Some(key) = hit
            && !matched_groups.iter().any(|(mg, _)| mg == g)
        {
            matched_groups.push((*g, key));
        }
    }
    for (g, key) in matched_groups {
        for (expr, phrase) in &table.groups[g] {
            // The expression the user typed is already matched by the free-text clauses.
            let typed = if expr.chars().any(analysis::is_cjk) {
                free_lower.contains(expr.as_str())
            } else {
                let stems: Vec<String> = phrase
                    .iter()
                    .flat_map(|p| match p {
                        PhrasePart::Latin(s) => s.clone(),
                        PhrasePart::Cjk(_) => Vec::new(),
                    })
                    .collect();
                contains_sequence(&stem_seq, &stems)
            };
            if !typed && !phrase.is_empty() {
                for run in analysis::runs(expr).into_iter().filter(|r| r.kind == RunKind::Cjk) {
                    qa.cjk_literals.push(run.text.to_string());
                }
                qa.synonyms.push(Synonym { key: key.clone(), phrase: phrase.clone() });
            }
        }
    }
    qa
}

fn contains_sequence(seq: &[Option<String>], pattern: &[String]) -> bool {
    !pattern.is_empty()
        && seq.windows(pattern.len()).any(|w| w.iter().zip(pattern).all(|(a, b)| a.as_deref() == Some(b.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_pair_up_and_a_lone_quote_is_ignored() {
        assert_eq!(split_quotes(r#"a "b c" d"#), vec![("a ", false), ("b c", true), (" d", false)]);
        assert_eq!(split_quotes(r#"a "b c"#), vec![(r#"a "b c"#, false)]);
        assert_eq!(split_quotes("“锂电池”正极"), vec![("锂电池", true), ("正极", false)]);
        assert!(split_quotes(r#""""#).is_empty());
    }

    #[test]
    fn stopwords_are_dropped_only_when_something_else_remains() {
        let qa = analyze_query("the design of wings");
        let stems: Vec<_> = qa.latin.iter().map(|t| t.stem.as_str()).collect();
        assert_eq!(stems, ["design", "wing"]);
        let qa = analyze_query("the who");
        assert_eq!(qa.latin.len(), 2);
    }

    #[test]
    fn operators_are_plain_text() {
        let qa = analyze_query("title:(battery AND -cathode)");
        let stems: Vec<_> = qa.latin.iter().map(|t| t.stem.as_str()).collect();
        assert_eq!(stems, ["titl", "batteri", "cathod"]);
    }

    #[test]
    fn a_chinese_query_reaches_its_synonyms_in_both_languages() {
        let qa = analyze_query("锂电池");
        let phrases: Vec<&Phrase> = qa.synonyms.iter().map(|s| &s.phrase).collect();
        let li_ion = vec![PhrasePart::Cjk(vec!["锂离".into(), "离子".into(), "子电".into(), "电池".into()])];
        assert!(phrases.contains(&&li_ion));
        assert!(phrases.contains(&&vec![PhrasePart::Latin(vec!["lithium".into(), "batteri".into()])]));
        assert!(!phrases.contains(&&vec![PhrasePart::Cjk(vec!["锂电".into(), "电池".into()])]));
        assert!(qa.synonyms.iter().all(|s| s.key == SynonymKey::Literal("锂电池".into())));
    }

    #[test]
    fn chinese_words_keep_their_own_bigrams_and_bridges_join_neighbours() {
        let qa = analyze_query("高能量密度");
        let words: Vec<_> = qa.cjk.iter().map(|t| t.word.as_str()).collect();
        assert_eq!(words, ["高能量", "密度"]);
        assert_eq!(qa.cjk[0].grams, ["高能", "能量"]);
        assert_eq!(qa.bridges, [("量密".to_string(), 1)]);
    }

    #[test]
    fn chinese_function_words_are_dropped_when_there_is_content() {
        let qa = analyze_query("石墨烯的制备");
        assert!(qa.cjk.iter().all(|t| t.word != "的"));
        assert_eq!(analyze_query("的").cjk.len(), 1);
    }

    #[test]
    fn an_english_phrase_reaches_its_chinese_synonym() {
        let qa = analyze_query("new Lithium-Ion batteries");
        assert!(qa.cjk_literals.contains(&"锂电池".to_string()));
    }
}
