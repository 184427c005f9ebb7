//! Highlights that are safe to render: the text is HTML-escaped and the only markup ever inserted
//! is `<mark>`…`</mark>`. Listing text is written by institutes; a title such as
//! `<script>…` must come back as `&lt;script&gt;…`, never as markup.

use std::collections::{BTreeMap, HashSet};

use achex_core::{Lang, LangText};

use crate::analysis::{self, WordStemmer};
use crate::model::ListingDocument;
use crate::query::QueryAnalysis;

pub(crate) const MARK_OPEN: &str = "<mark>";
pub(crate) const MARK_CLOSE: &str = "</mark>";

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape_html_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(s, &mut out);
    out
}

/// What to mark in a text, derived from the analysed query.
#[derive(Debug, Default, Clone)]
pub(crate) struct HighlightSpec {
    /// Token texts of the main analyzer (stems, CJK words and sub-words, typo expansions).
    pub terms: HashSet<String>,
    /// CJK bigrams.
    pub bigrams: HashSet<String>,
    /// CJK substrings marked wherever they occur (phrases, synonyms).
    pub literals: Vec<String>,
    /// Normalised prefixes: a Latin word starting with one is marked (search-as-you-type).
    pub prefixes: Vec<String>,
}

impl HighlightSpec {
    pub fn from_analysis(qa: &QueryAnalysis, expansions: impl IntoIterator<Item = String>) -> Self {
        let mut spec = HighlightSpec::default();
        for t in &qa.latin {
            spec.terms.insert(t.stem.clone());
        }
        for t in &qa.cjk {
            spec.terms.insert(t.word.clone());
            spec.terms.extend(t.subwords.iter().cloned());
        }
        spec.terms.extend(expansions);
        for (g, _) in &qa.bigrams {
            spec.bigrams.insert(g.clone());
        }
        for phrase in qa.phrases.iter().chain(&qa.synonyms) {
            for part in phrase {
                if let crate::query::PhrasePart::Latin(stems) = part {
                    spec.terms.extend(stems.iter().cloned());
                }
            }
        }
        spec.literals = qa.cjk_literals.clone();
        spec
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.bigrams.is_empty() && self.literals.is_empty() && self.prefixes.is_empty()
    }

    /// Sorted, merged byte ranges of `text` to mark.
    pub fn ranges(&self, text: &str) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        if self.is_empty() {
            return ranges;
        }
        let mut tokens = Vec::new();
        analysis::analyze_text(text, &mut WordStemmer::default(), &mut tokens);
        for t in &tokens {
            let original = &text[t.offset_from..t.offset_to];
            let latin = !original.chars().next().is_some_and(analysis::is_cjk);
            if self.terms.contains(&t.text)
                || (latin && !self.prefixes.is_empty() && {
                    let n = analysis::normalize_word(original);
                    self.prefixes.iter().any(|p| n.starts_with(p.as_str()))
                })
            {
                ranges.push((t.offset_from, t.offset_to));
            }
        }
        if !self.bigrams.is_empty() {
            tokens.clear();
            analysis::analyze_bigrams(text, &mut tokens);
            ranges
                .extend(tokens.iter().filter(|t| self.bigrams.contains(&t.text)).map(|t| (t.offset_from, t.offset_to)));
        }
        for lit in self.literals.iter().filter(|l| !l.is_empty()) {
            ranges.extend(text.match_indices(lit.as_str()).map(|(i, m)| (i, i + m.len())));
        }
        merge(ranges)
    }
}

fn merge(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Renders `text` escaped with `ranges` marked. Texts longer than `max_chars` are cropped to the
/// window holding the most marks, with `…` where text was cut.
pub(crate) fn render(text: &str, ranges: &[(usize, usize)], max_chars: usize) -> String {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
    let total = bounds.len() - 1;
    let char_of = |byte: usize| bounds.partition_point(|&b| b < byte);
    let (mut start, mut end) = (0usize, total);
    if total > max_chars {
        let mut best = (0usize, 0usize); // (marks in window, first mark char)
        for (i, &(a, _)) in ranges.iter().enumerate() {
            let ca = char_of(a);
            let n = ranges[i..].iter().take_while(|(x, _)| char_of(*x) < ca + max_chars).count();
            if n > best.0 {
                best = (n, ca);
            }
        }
        start = best.1.saturating_sub(max_chars / 5);
        end = (start + max_chars).min(total);
        start = end.saturating_sub(max_chars);
    }
    let (sb, eb) = (bounds[start], bounds[end]);
    let mut out = String::with_capacity(text.len() + 16);
    if start > 0 {
        out.push('…');
    }
    let mut cursor = sb;
    for &(a, b) in ranges {
        let (a, b) = (a.max(sb), b.min(eb));
        if a >= b || a < cursor {
            continue;
        }
        escape_html_into(&text[cursor..a], &mut out);
        out.push_str(MARK_OPEN);
        escape_html_into(&text[a..b], &mut out);
        out.push_str(MARK_CLOSE);
        cursor = b;
    }
    escape_html_into(&text[cursor..eb], &mut out);
    if end < total {
        out.push('…');
    }
    out
}

/// The language version of `text` with the most marks (ties go to `preferred`, then Chinese), and
/// its mark ranges.
pub(crate) fn best_version<'a>(
    spec: &HighlightSpec,
    text: &'a LangText,
    preferred: Option<Lang>,
) -> (Option<&'a str>, Vec<(usize, usize)>) {
    let mut best: Option<(&str, Vec<(usize, usize)>, bool)> = None;
    for (lang, t) in text.versions() {
        let ranges = spec.ranges(t);
        let is_preferred = Some(lang) == preferred;
        let better = match &best {
            None => true,
            Some((_, r, p)) => ranges.len() > r.len() || (ranges.len() == r.len() && is_preferred && !p),
        };
        if better {
            best = Some((t, ranges, is_preferred));
        }
    }
    match best {
        Some((t, r, _)) => (Some(t), r),
        None => (None, Vec::new()),
    }
}

/// Highlights of one listing: each text field where something matched, in the language version
/// with the most matches.
pub(crate) fn build_highlights(
    spec: &HighlightSpec,
    d: &ListingDocument,
    preferred: Option<Lang>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, text, max_chars) in
        [("title", &d.title, 200), ("summary", &d.summary, 300), ("description", &d.description, 240)]
    {
        if let (Some(t), ranges) = best_version(spec, text, preferred)
            && !ranges.is_empty()
        {
            out.insert(name.to_string(), render(t, &ranges, max_chars));
        }
    }
    let keywords = d.keywords.join(", ");
    let ranges = spec.ranges(&keywords);
    if !ranges.is_empty() {
        out.insert("keywords".to_string(), render(&keywords, &ranges, 300));
    }
    out
}

/// Converts text highlighted with private-use sentinel tags (what the Meilisearch backend asks
/// Meilisearch to use) into escaped HTML with `<mark>`. Sentinels are stripped from listing text
/// before it is sent, so any in the output were put there by the highlighter.
pub(crate) fn sentinels_to_html(formatted: &str, open: char, close: char) -> (String, bool) {
    let mut out = String::with_capacity(formatted.len() + 16);
    let mut marked = false;
    let mut depth = 0u32;
    for c in formatted.chars() {
        if c == open {
            if depth == 0 {
                out.push_str(MARK_OPEN);
                marked = true;
            }
            depth += 1;
        } else if c == close {
            if depth == 1 {
                out.push_str(MARK_CLOSE);
            }
            depth = depth.saturating_sub(1);
        } else {
            escape_html_into(c.encode_utf8(&mut [0; 4]), &mut out);
        }
    }
    if depth > 0 {
        out.push_str(MARK_CLOSE);
    }
    (out, marked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::analyze_query;

    fn highlight(query: &str, text: &str, max: usize) -> String {
        let spec = HighlightSpec::from_analysis(&analyze_query(query), []);
        render(text, &spec.ranges(text), max)
    }

    #[test]
    fn markup_in_listing_text_is_escaped_and_only_mark_is_added() {
        assert_eq!(
            highlight("script battery", "<script>alert('x')</script> & battery", 200),
            "&lt;<mark>script</mark>&gt;alert(&#39;x&#39;)&lt;/<mark>script</mark>&gt; &amp; <mark>battery</mark>"
        );
    }

    #[test]
    fn stemmed_forms_are_marked_in_their_original_spelling() {
        assert_eq!(highlight("battery", "Batteries charged", 200), "<mark>Batteries</mark> charged");
    }

    #[test]
    fn a_chinese_word_is_marked_as_one_span() {
        assert_eq!(highlight("人工智能", "基于人工智能的识别", 200), "基于<mark>人工智能</mark>的识别");
    }

    #[test]
    fn long_text_is_cropped_around_the_matches() {
        let text = format!("{} battery {}", "filler ".repeat(100), "tail ".repeat(100));
        let out = highlight("battery", &text, 60);
        assert!(out.starts_with('…') && out.ends_with('…') && out.contains("<mark>battery</mark>"));
        assert!(out.chars().count() < 90);
    }

    #[test]
    fn sentinel_tags_become_marks_after_escaping() {
        let (html, marked) = sentinels_to_html("a<b \u{E000}c&d\u{E001}", '\u{E000}', '\u{E001}');
        assert_eq!(html, "a&lt;b <mark>c&amp;d</mark>");
        assert!(marked);
    }
}
