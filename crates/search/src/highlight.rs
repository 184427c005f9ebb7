//! Highlights that are safe to render: the text is HTML-escaped and the only markup ever inserted
//! is `<mark>`…`</mark>`. Listing text is written by institutes; a title such as
//! `<script>…` must come back as `&lt;script&gt;…`, never as markup.

use std::collections::BTreeMap;

// A query's highlight sets are probed for many words of a page of listings: foldhash, where
// SipHash was a tenth of the highlighting's CPU. Its seed is random per process, so a query
// cannot be made of colliding words in advance.
use foldhash::HashSet;

use achex_core::{Lang, LangText};

use crate::analysis::{self, WordStemmer};
use crate::model::ListingDocument;
use crate::query::QueryAnalysis;

pub(crate) const MARK_OPEN: &str = "<mark>";
pub(crate) const MARK_CLOSE: &str = "</mark>";

/// Escapes the five characters that matter in HTML text and attribute values.
///
/// The text between them is copied as whole runs: most listing text has none of the five, and
/// pushing it a character at a time was a tenth of the highlighting's CPU.
pub fn escape_html_into(s: &str, out: &mut String) {
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // The five are ASCII, so `i` is a character boundary.
        out.push_str(&s[run..i]);
        out.push_str(entity);
        run = i + 1;
    }
    out.push_str(&s[run..]);
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(s, &mut out);
    out
}

/// What to mark in a text, derived from the analysed query.
///
/// Latin words are compared after the index's own normalisation and stemming, so `Batteries`
/// is marked for `battery`. CJK is marked by plain substring search for the query's words,
/// sub-words, bigrams, phrases and synonyms: it needs no segmentation (jieba would cost more than
/// the search itself over a page of long descriptions) and marks a word even where the listing's
/// context made jieba cut it differently.
#[derive(Debug, Default, Clone)]
pub(crate) struct HighlightSpec {
    /// Latin stems (query words, typo expansions, phrase and synonym words).
    pub terms: HashSet<String>,
    /// CJK strings to mark wherever they occur.
    pub cjk: Vec<String>,
    /// Normalised prefixes: a Latin word starting with one is marked (search-as-you-type).
    pub prefixes: Vec<String>,
    /// First three characters of every term. The stemmer only rewrites endings, so a word whose
    /// start is not among these cannot stem to a term and is not stemmed at all (most words of a
    /// long description).
    heads: std::sync::OnceLock<HashSet<String>>,
    /// Which lower-case ASCII letters a term or prefix can start with (all of them when one
    /// can start with anything): an ASCII word starting otherwise is skipped before it is even
    /// normalised, which saves an allocation for nearly every word of an English description.
    ascii_starts: std::sync::OnceLock<[bool; 128]>,
    /// All of `cjk` at once, so a text is scanned once rather than once per string (a long
    /// Chinese query has dozens of words, sub-words and bigrams).
    cjk_finder: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>>,
}

fn head(s: &str) -> &str {
    s.char_indices().nth(3).map_or(s, |(i, _)| &s[..i])
}

impl HighlightSpec {
    pub fn from_analysis(qa: &QueryAnalysis, expansions: impl IntoIterator<Item = String>) -> Self {
        let mut spec = HighlightSpec::default();
        for t in &qa.latin {
            spec.terms.insert(t.stem.clone());
        }
        spec.terms.extend(expansions);
        for t in &qa.cjk {
            spec.add_cjk(&t.word);
            for s in t.subwords.iter().chain(&t.grams) {
                spec.add_cjk(s);
            }
        }
        for (g, _) in &qa.bridges {
            spec.add_cjk(g);
        }
        for phrase in qa.phrases.iter().chain(qa.synonyms.iter().map(|s| &s.phrase)) {
            for part in phrase {
                if let crate::query::PhrasePart::Latin(stems) = part {
                    spec.terms.extend(stems.iter().cloned());
                }
            }
        }
        for lit in &qa.cjk_literals {
            spec.add_cjk(lit);
        }
        spec
    }

    pub fn add_cjk(&mut self, s: &str) {
        if s.chars().any(analysis::is_cjk) && !self.cjk.iter().any(|c| c == s) {
            self.cjk.push(s.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.cjk.is_empty() && self.prefixes.is_empty()
    }

    /// Sorted, merged byte ranges of `text` to mark.
    pub fn ranges(&self, text: &str) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        if self.is_empty() {
            return ranges;
        }
        if !self.terms.is_empty() || !self.prefixes.is_empty() {
            let mut stemmer = WordStemmer::default();
            let starts = self.ascii_starts.get_or_init(|| {
                let mut starts = [false; 128];
                for word in self.terms.iter().chain(&self.prefixes) {
                    match word.bytes().next() {
                        Some(b) if b.is_ascii() => starts[usize::from(b.to_ascii_lowercase())] = true,
                        Some(_) => {} // only a word starting with a non-ASCII letter can match it
                        None => starts = [true; 128],
                    }
                }
                starts
            });
            let heads = self.heads.get_or_init(|| self.terms.iter().map(|t| head(t).to_string()).collect());
            for (start, word) in analysis::words(text) {
                if let Some(b) = word.bytes().next().filter(u8::is_ascii)
                    && !starts[usize::from(b.to_ascii_lowercase())]
                {
                    continue;
                }
                // An ASCII word's normalised head is its lower-cased head: most words that pass
                // the first letter are ruled out here without normalising them.
                if self.prefixes.is_empty() && word.len() >= 3 && word.as_bytes()[..3].iter().all(u8::is_ascii) {
                    let mut lower = [0u8; 3];
                    for (l, b) in lower.iter_mut().zip(word.bytes()) {
                        *l = b.to_ascii_lowercase();
                    }
                    if !std::str::from_utf8(&lower).is_ok_and(|h| heads.contains(h)) {
                        continue;
                    }
                }
                let normalized = analysis::normalize_word(word);
                let hit = self.prefixes.iter().any(|p| normalized.starts_with(p.as_str()))
                    || (heads.contains(head(&normalized)) && self.terms.contains(&stemmer.stem(&normalized)));
                if hit {
                    ranges.push((start, start + word.len()));
                }
            }
        }
        let finder = self.cjk_finder.get_or_init(|| {
            if self.cjk.is_empty() {
                return None;
            }
            aho_corasick::AhoCorasick::new(&self.cjk).ok()
        });
        match finder {
            Some(finder) => ranges.extend(finder.find_overlapping_iter(text).map(|m| (m.start(), m.end()))),
            None => {
                for s in &self.cjk {
                    ranges.extend(text.match_indices(s.as_str()).map(|(i, m)| (i, i + m.len())));
                }
            }
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
    let shown = window(text, ranges, max_chars);
    let mut out = String::with_capacity(shown.to - shown.from + 16);
    if shown.cut_before {
        out.push('…');
    }
    let mut cursor = shown.from;
    for &(a, b) in ranges {
        let (a, b) = (a.max(shown.from), b.min(shown.to));
        if a >= b || a < cursor {
            continue;
        }
        escape_html_into(&text[cursor..a], &mut out);
        out.push_str(MARK_OPEN);
        escape_html_into(&text[a..b], &mut out);
        out.push_str(MARK_CLOSE);
        cursor = b;
    }
    escape_html_into(&text[cursor..shown.to], &mut out);
    if shown.cut_after {
        out.push('…');
    }
    out
}

/// The part of a text that is shown: its byte range, and whether text was cut before or after it.
#[derive(Debug, PartialEq)]
struct Window {
    from: usize,
    to: usize,
    cut_before: bool,
    cut_after: bool,
}

/// The whole text when it has at most `max_chars` characters; otherwise the `max_chars` around
/// the window that holds the most marks, starting a fifth of the window before its first mark.
///
/// One pass over the characters finds the marks' character positions, and the window is picked
/// with two cursors over them: linear in the text and the marks, with no index of every
/// character (a description runs to thousands of them, and only a window is shown).
fn window(text: &str, ranges: &[(usize, usize)], max_chars: usize) -> Window {
    let total = text.chars().count();
    if total <= max_chars {
        return Window { from: 0, to: text.len(), cut_before: false, cut_after: false };
    }
    let starts = char_positions(text, ranges.iter().map(|&(a, _)| a));
    // (marks in the window, the window's first mark) over windows that start at a mark.
    let (mut best, mut best_first, mut last) = (0usize, 0usize, 0usize);
    for (first, &at) in starts.iter().enumerate() {
        last = last.max(first);
        while last < starts.len() && starts[last] < at + max_chars {
            last += 1;
        }
        if last - first > best {
            (best, best_first) = (last - first, at);
        }
    }
    let end = (best_first.saturating_sub(max_chars / 5) + max_chars).min(total);
    let start = end.saturating_sub(max_chars);
    let (from, to) = byte_offsets(text, start, end);
    Window { from, to, cut_before: start > 0, cut_after: end < total }
}

/// The character position of each of `bytes` (ascending byte offsets on character boundaries).
fn char_positions(text: &str, bytes: impl Iterator<Item = usize>) -> Vec<usize> {
    let (mut chars, mut at) = (0usize, 0usize);
    bytes
        .map(|byte| {
            chars += text.get(at..byte).map_or(0, |s| s.chars().count());
            at = at.max(byte);
            chars
        })
        .collect()
}

/// The byte offsets of the characters at positions `start` ≤ `end` (the text's length for a
/// position at or past its end).
fn byte_offsets(text: &str, start: usize, end: usize) -> (usize, usize) {
    let mut offsets = text.char_indices().map(|(i, _)| i);
    let sb = offsets.nth(start).unwrap_or(text.len());
    let eb = if end > start { offsets.nth(end - start - 1).unwrap_or(text.len()) } else { sb };
    (sb, eb)
}

/// The language version of `text` to show: the preferred language's if anything in it is marked,
/// otherwise the version with the most marks (Chinese first on a tie). Returns its mark ranges.
pub(crate) fn best_version<'a>(
    spec: &HighlightSpec,
    text: &'a LangText,
    preferred: Option<Lang>,
) -> (Option<&'a str>, Vec<(usize, usize)>) {
    let mut best: Option<(&str, Vec<(usize, usize)>)> = None;
    for (lang, t) in text.versions() {
        let ranges = spec.ranges(t);
        if Some(lang) == preferred && !ranges.is_empty() {
            return (Some(t), ranges);
        }
        if best.as_ref().is_none_or(|(_, r)| ranges.len() > r.len()) {
            best = Some((t, ranges));
        }
    }
    match best {
        Some((t, r)) => (Some(t), r),
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
    // Meilisearch marks each segmented word on its own (石墨 + 烯); adjoining marks are joined
    // into one, as the embedded index does.
    let joined = formatted.replace(&format!("{close}{open}"), "");
    for c in joined.chars() {
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
    fn a_long_chinese_text_is_cropped_to_the_window_with_the_most_marks() {
        let text = format!("{}电池{}石墨烯，电池，石墨烯{}", "甲".repeat(300), "乙".repeat(300), "丙".repeat(300));
        let out = highlight("石墨烯 电池", &text, 40);
        assert!(out.starts_with('…') && out.ends_with('…'), "{out}");
        assert!(out.contains("<mark>石墨烯</mark>，<mark>电池</mark>，<mark>石墨烯</mark>"), "{out}");
        assert_eq!(out.chars().count(), 40 + 2 + 3 * (MARK_OPEN.len() + MARK_CLOSE.len()));
    }

    #[test]
    fn escaping_keeps_every_other_character_as_it_was() {
        assert_eq!(escape_html("石墨烯 <b>&'\"\u{1F600}</b>"), "石墨烯 &lt;b&gt;&amp;&#39;&quot;\u{1F600}&lt;/b&gt;");
        assert_eq!(escape_html(""), "");
    }

    /// The window as it was first picked: an index of every character, and for each mark a
    /// count of the marks that follow it within the window. The model for the property below.
    fn reference_window(text: &str, ranges: &[(usize, usize)], max_chars: usize) -> Window {
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len())).collect();
        let total = bounds.len() - 1;
        let char_of = |byte: usize| bounds.partition_point(|&b| b < byte);
        let (mut start, mut end) = (0usize, total);
        if total > max_chars {
            let mut best = (0usize, 0usize);
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
        Window { from: bounds[start], to: bounds[end], cut_before: start > 0, cut_after: end < total }
    }

    proptest::proptest! {
        #[test]
        fn the_window_shown_matches_the_reference_on_any_text_marks_and_length(
            words in proptest::collection::vec(proptest::sample::select(vec!["电池", "石墨烯", "a", "battery", " ", "<&>", "é", "\u{1F600}", "膜"]), 0..80),
            marked in proptest::collection::vec(proptest::sample::select(vec!["电池", "battery", "膜", "a"]), 0..3),
            max_chars in 1usize..60,
        ) {
            let text: String = words.concat();
            let spec = HighlightSpec::from_analysis(&analyze_query(&marked.join(" ")), []);
            let ranges = spec.ranges(&text);
            proptest::prop_assert_eq!(window(&text, &ranges, max_chars), reference_window(&text, &ranges, max_chars));
        }
    }

    #[test]
    fn adjoining_sentinel_marks_are_joined() {
        let (html, _) = sentinels_to_html("\u{E000}石墨\u{E001}\u{E000}烯\u{E001}膜", '\u{E000}', '\u{E001}');
        assert_eq!(html, "<mark>石墨烯</mark>膜");
    }

    #[test]
    fn sentinel_tags_become_marks_after_escaping() {
        let (html, marked) = sentinels_to_html("a<b \u{E000}c&d\u{E001}", '\u{E000}', '\u{E001}');
        assert_eq!(html, "a&lt;b <mark>c&amp;d</mark>");
        assert!(marked);
    }
}
