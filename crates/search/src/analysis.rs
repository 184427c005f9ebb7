//! The bilingual analyzer: one pipeline that indexes Chinese and English on the same fields.
//!
//! Text is split into runs of CJK characters and runs of other letters/digits (anything else
//! separates). CJK runs are segmented by jieba: each word of the default cut is emitted, preceded
//! at the same position by its dictionary sub-words of two and three characters (jieba's "search
//! mode"), so 人工智能 is indexed as 人工, 智能 and 人工智能 but never as 人. Latin runs are lower-cased,
//! folded to ASCII and stemmed with the English Snowball stemmer.
//!
//! A second analyzer emits overlapping CJK character bigrams for the `*_grams` fields. It catches
//! what the dictionary segmentation misses (a word jieba splits differently in the query and in
//! the listing, names and terms not in its dictionary) and gives exact CJK phrase matching as a
//! bigram phrase.
//!
//! The tokenizer names carry a version: changing what either analyzer emits must bump it, which
//! changes the schema and makes an old index on disk refuse to open instead of silently
//! mismatching the query side.

use std::sync::LazyLock;

use tantivy::tokenizer::{RawTokenizer, Stemmer, Token, TokenFilter, TokenStream, Tokenizer};
use tantivy_jieba::jieba_rs::Jieba;

pub(crate) const TEXT_TOKENIZER: &str = "achex_text_v1";
pub(crate) const GRAMS_TOKENIZER: &str = "achex_cjk_bigrams_v1";

/// Latin tokens longer than this are dropped (hashes, base64, run-together garbage).
const MAX_LATIN_TOKEN_CHARS: usize = 40;

static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Loads the jieba dictionary now (about a second in a debug build, a few tens of milliseconds
/// in release) so the first request does not pay for it. Idempotent.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

/// CJK ideographs (with extensions and compatibility forms), kana and hangul.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3005..=0x3007
        | 0x3040..=0x30FF
        | 0x31F0..=0x31FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF
        | 0x20000..=0x2FA1F
        | 0x30000..=0x3134F)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    Cjk,
    Word,
}

/// A maximal stretch of CJK characters or of other letters/digits; `start` is a byte offset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a> {
    pub kind: RunKind,
    pub start: usize,
    pub text: &'a str,
}

pub(crate) fn runs(text: &str) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let mut current: Option<(RunKind, usize)> = None;
    for (i, c) in text.char_indices() {
        let kind = if is_cjk(c) {
            Some(RunKind::Cjk)
        } else if is_word_char(c) {
            Some(RunKind::Word)
        } else {
            None
        };
        match (current, kind) {
            (Some((k, _)), Some(n)) if k == n => {}
            (Some((k, s)), _) => {
                out.push(Run { kind: k, start: s, text: &text[s..i] });
                current = kind.map(|n| (n, i));
            }
            (None, _) => current = kind.map(|n| (n, i)),
        }
    }
    if let Some((k, s)) = current {
        out.push(Run { kind: k, start: s, text: &text[s..] });
    }
    out
}

/// The [`RunKind::Word`] runs of `text` as `(start, word)`, what `runs` would give, without
/// building the list and with ASCII classified by byte: highlighting walks every word of every
/// hit's description with it.
pub(crate) fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    // The character at byte `i` (a char boundary): its length and whether it is a word char.
    let class = move |i: usize| -> (usize, bool) {
        let b = bytes[i];
        if b.is_ascii() {
            return (1, b.is_ascii_alphanumeric());
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        (c.len_utf8(), is_word_char(c))
    };
    std::iter::from_fn(move || {
        while at < bytes.len() {
            let (len, word) = class(at);
            if !word {
                at += len;
                continue;
            }
            let start = at;
            at += len;
            while at < bytes.len() {
                let (len, word) = class(at);
                if !word {
                    break;
                }
                at += len;
            }
            return Some((start, &text[start..at]));
        }
        None
    })
}

/// Lower-cases and folds a Latin word to ASCII where a plain letter exists (full-width forms,
/// common accents), so `Ｌｉ-Ion`, `li-ion` and `Li-ion` meet.
pub(crate) fn normalize_word(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        let c = match c as u32 {
            0xFF10..=0xFF19 | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        for l in c.to_lowercase() {
            match fold(l) {
                Some(s) => out.push_str(s),
                None => out.push(l),
            }
        }
    }
    out
}

fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ť' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        _ => return None,
    })
}

/// The English Snowball stemmer, borrowed from tantivy so the index and the query side can never
/// disagree about the algorithm version.
#[derive(Clone)]
pub(crate) struct WordStemmer {
    inner: <Stemmer as TokenFilter>::Tokenizer<RawTokenizer>,
}

impl Default for WordStemmer {
    fn default() -> Self {
        Self { inner: Stemmer::default().transform(RawTokenizer::default()) }
    }
}

impl WordStemmer {
    pub(crate) fn stem(&mut self, normalized: &str) -> String {
        let mut stream = self.inner.token_stream(normalized);
        if stream.advance() { std::mem::take(&mut stream.token_mut().text) } else { normalized.to_string() }
    }
}

/// One word of the default jieba cut with its search-mode sub-words. Offsets are relative to the
/// run.
pub(crate) struct CjkWord<'a> {
    pub word: &'a str,
    pub start: usize,
    pub end: usize,
    pub subwords: Vec<(&'a str, usize, usize)>,
}

pub(crate) fn cjk_words(run: &str) -> Vec<CjkWord<'_>> {
    let jieba = &*JIEBA;
    jieba
        .cut(run, true)
        .into_iter()
        .map(|t| {
            let word = t.word;
            let mut subwords = Vec::new();
            let chars: Vec<(usize, char)> = word.char_indices().collect();
            let n = chars.len();
            let byte_at = |k: usize| if k == n { word.len() } else { chars[k].0 };
            for len in [2usize, 3] {
                if n > len {
                    for i in 0..=n - len {
                        let (a, b) = (byte_at(i), byte_at(i + len));
                        let gram = &word[a..b];
                        if jieba.has_word(gram) {
                            subwords.push((gram, t.byte_start + a, t.byte_start + b));
                        }
                    }
                }
            }
            CjkWord { word, start: t.byte_start, end: t.byte_end, subwords }
        })
        .collect()
}

/// Overlapping character bigrams of a CJK run (a single character stands for itself). Offsets
/// are relative to the run.
pub(crate) fn bigrams(run: &str) -> Vec<(&str, usize, usize)> {
    let idx: Vec<usize> = run.char_indices().map(|(i, _)| i).chain(std::iter::once(run.len())).collect();
    let n = idx.len() - 1;
    if n == 1 {
        return vec![(run, 0, run.len())];
    }
    (0..n.saturating_sub(1)).map(|i| (&run[idx[i]..idx[i + 2]], idx[i], idx[i + 2])).collect()
}

/// Runs the main analyzer over `text`.
pub(crate) fn analyze_text(text: &str, stemmer: &mut WordStemmer, out: &mut Vec<Token>) {
    let mut position = 0usize;
    for run in runs(text) {
        match run.kind {
            RunKind::Word => {
                if run.text.chars().count() > MAX_LATIN_TOKEN_CHARS {
                    continue;
                }
                let normalized = normalize_word(run.text);
                out.push(Token {
                    offset_from: run.start,
                    offset_to: run.start + run.text.len(),
                    position,
                    text: stemmer.stem(&normalized),
                    position_length: 1,
                });
                position += 1;
            }
            RunKind::Cjk => {
                for w in cjk_words(run.text) {
                    for (sub, a, b) in &w.subwords {
                        out.push(Token {
                            offset_from: run.start + a,
                            offset_to: run.start + b,
                            position,
                            text: (*sub).to_string(),
                            position_length: 1,
                        });
                    }
                    out.push(Token {
                        offset_from: run.start + w.start,
                        offset_to: run.start + w.end,
                        position,
                        text: w.word.to_string(),
                        position_length: 1,
                    });
                    position += 1;
                }
            }
        }
    }
}

/// Runs the bigram analyzer over `text`. Positions jump by one between runs so that a bigram
/// phrase never matches across punctuation or Latin text.
pub(crate) fn analyze_bigrams(text: &str, out: &mut Vec<Token>) {
    let mut position = 0usize;
    for run in runs(text).into_iter().filter(|r| r.kind == RunKind::Cjk) {
        for (g, a, b) in bigrams(run.text) {
            out.push(Token {
                offset_from: run.start + a,
                offset_to: run.start + b,
                position,
                text: g.to_string(),
                position_length: 1,
            });
            position += 1;
        }
        position += 1;
    }
}

/// A token stream over tokens computed up front: jieba works on whole runs, so streaming gains
/// nothing.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// The main analyzer as a tantivy tokenizer (registered as [`TEXT_TOKENIZER`]).
#[derive(Clone, Default)]
pub struct BilingualTokenizer {
    stemmer: WordStemmer,
}

impl Tokenizer for BilingualTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        analyze_text(text, &mut self.stemmer, &mut tokens);
        VecTokenStream { tokens, next: 0 }
    }
}

/// The bigram analyzer as a tantivy tokenizer (registered as [`GRAMS_TOKENIZER`]).
#[derive(Clone, Default)]
pub struct CjkBigramTokenizer;

impl Tokenizer for CjkBigramTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = Vec::new();
        analyze_bigrams(text, &mut tokens);
        VecTokenStream { tokens, next: 0 }
    }
}

/// English function words. They stay in the index (quoted phrases need them) but are dropped
/// from free-text queries that have any other word, where they only add noise to the ranking.
/// Matched after normalisation, before stemming.
pub(crate) fn is_stopword(normalized: &str) -> bool {
    STOPWORDS.binary_search(&normalized).is_ok()
}

/// Single-character Chinese function words: dropped from free-text queries that have other
/// words (like English stopwords), kept in the index.
pub(crate) fn is_cjk_stopword(word: &str) -> bool {
    let mut chars = word.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if CJK_STOPWORDS.contains(c))
}

pub(crate) const CJK_STOPWORDS: &str = "的了和与及或对在是为之其等把被从向以于由将而并且也都就这那着过得地所";

/// Sorted (binary search).
pub(crate) const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "down", "during", "each", "etc", "few", "for", "from", "further", "had", "has", "have", "having",
    "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "no", "nor", "not", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
    "out", "over", "own", "s", "same", "she", "should", "so", "some", "such", "t", "than", "that", "the", "their",
    "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until",
    "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
    "would", "you", "your", "yours",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_word_runs_whatever_the_script() {
        for text in [
            "",
            "Li-ion batteries, 3.7 V",
            "锂离子电池 with Graphene电极 and café; Ｌｉ-Ｉｏｎ",
            "ÉTÉ naïve—x2 ☃ 𠀀abc",
            " trailing space ",
            "ascii",
            "한국어 텍스트 mixed",
        ] {
            let expected: Vec<(usize, &str)> =
                runs(text).into_iter().filter(|r| r.kind == RunKind::Word).map(|r| (r.start, r.text)).collect();
            assert_eq!(words(text).collect::<Vec<_>>(), expected, "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn words_agree_with_runs_on_any_text(text in "(\\PC|[a-zA-Z0-9 ,.锂电池é])*") {
            let expected: Vec<(usize, &str)> =
                runs(&text).into_iter().filter(|r| r.kind == RunKind::Word).map(|r| (r.start, r.text)).collect();
            proptest::prop_assert_eq!(words(&text).collect::<Vec<_>>(), expected);
        }
    }

    fn texts(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        analyze_text(text, &mut WordStemmer::default(), &mut out);
        out.into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn the_stopword_list_is_sorted_for_binary_search() {
        assert!(is_stopword("the") && is_stopword("yours") && is_stopword("a") && !is_stopword("battery"));
    }

    #[test]
    fn english_is_lowercased_and_stemmed() {
        assert_eq!(texts("Batteries CHARGING"), ["batteri", "charg"]);
    }

    #[test]
    fn chinese_is_segmented_with_search_mode_subwords_but_no_single_characters() {
        let t = texts("人工智能");
        assert!(t.contains(&"人工智能".to_string()) && t.contains(&"智能".to_string()));
        assert!(!t.contains(&"人".to_string()));
    }

    #[test]
    fn mixed_text_is_split_into_scripts() {
        let t = texts("AuPd双金属纳米粒子 cathode");
        assert_eq!(t.first().map(String::as_str), Some("aupd"));
        assert!(t.contains(&"纳米".to_string()));
        assert_eq!(t.last().map(String::as_str), Some("cathod"));
    }

    #[test]
    fn full_width_and_accented_letters_fold_to_ascii() {
        assert_eq!(texts("ＬＥＤ Schrödinger"), ["led", "schroding"]);
    }

    #[test]
    fn offsets_point_at_the_original_text() {
        let text = "高效 Li电池";
        let mut out = Vec::new();
        analyze_text(text, &mut WordStemmer::default(), &mut out);
        for t in &out {
            assert!(text.is_char_boundary(t.offset_from) && text.is_char_boundary(t.offset_to));
        }
        assert!(out.iter().any(|t| &text[t.offset_from..t.offset_to] == "Li" && t.text == "li"));
    }

    #[test]
    fn bigrams_cover_each_cjk_run_and_skip_latin() {
        let mut out = Vec::new();
        analyze_bigrams("锂电池, cathode 膜", &mut out);
        let t: Vec<_> = out.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(t, ["锂电", "电池", "膜"]);
        assert_eq!(out[1].position, out[0].position + 1);
        assert!(out[2].position > out[1].position + 1);
    }
}
