//! Building tantivy queries from analysed query text and filters. Nothing here parses user
//! syntax: every query is assembled from tokens the analyzer produced.

use super::*;

pub(super) fn boxed_term(field: Field, text: &str, boost: f32) -> Box<dyn Query> {
    let q = TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs);
    if boost == 1.0 { Box::new(q) } else { Box::new(BoostQuery::new(Box::new(q), boost)) }
}

pub(super) fn filter(q: impl Query) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(Box::new(q), 0.0))
}

/// A term or phrase over several fields, scored per field with its weight.
pub(super) fn phrase_over(fields: &[(Field, f32)], terms: &[String]) -> Option<Box<dyn Query>> {
    let clauses: Vec<(Occur, Box<dyn Query>)> = match terms {
        [] => return None,
        [one] => fields.iter().map(|&(f, w)| (Occur::Should, boxed_term(f, one, w))).collect(),
        many => fields
            .iter()
            .map(|&(f, w)| {
                let q = PhraseQuery::new(many.iter().map(|t| Term::from_field_text(f, t)).collect());
                (Occur::Should, Box::new(BoostQuery::new(Box::new(q), w)) as Box<dyn Query>)
            })
            .collect(),
    };
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// The clauses of one boolean query.
pub(super) type Clauses = Vec<(Occur, Box<dyn Query>)>;

/// Which optional expansions a text query gets.
#[derive(Clone, Copy)]
pub(super) struct Expansions {
    pub fuzzy: bool,
    pub bigrams: bool,
}

impl Shared {
    pub(super) fn text_fields(&self) -> [(Field, f32); 5] {
        let (f, r) = (&self.f, &self.ranking);
        [
            (f.title, r.title),
            (f.summary, r.summary),
            (f.description, r.description),
            (f.keywords, r.keywords),
            (f.institute_name, r.institute),
        ]
    }

    pub(super) fn gram_fields(&self) -> [(Field, f32); 2] {
        [(self.f.title_grams, self.ranking.title_grams), (self.f.body_grams, self.ranking.body_grams)]
    }

    /// An exact phrase: Latin parts as phrases over the text fields, CJK parts as bigram phrases
    /// (substrings). A single CJK character matches as a word or as the start of a bigram.
    pub(super) fn phrase_query(&self, phrase: &Phrase) -> Option<Box<dyn Query>> {
        let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for part in phrase {
            let q = match part {
                PhrasePart::Latin(stems) => phrase_over(&self.text_fields(), stems),
                PhrasePart::Cjk(grams) if grams.len() == 1 && grams[0].chars().count() == 1 => {
                    let mut c: Vec<(Occur, Box<dyn Query>)> =
                        self.text_fields().iter().map(|&(f, w)| (Occur::Should, boxed_term(f, &grams[0], w))).collect();
                    for (f, w) in self.gram_fields() {
                        let prefix = FuzzyTermQuery::new_prefix(Term::from_field_text(f, &grams[0]), 0, false);
                        c.push((Occur::Should, Box::new(BoostQuery::new(Box::new(prefix), w))));
                    }
                    Some(Box::new(BooleanQuery::new(c)) as Box<dyn Query>)
                }
                PhrasePart::Cjk(grams) => phrase_over(&self.gram_fields(), grams),
            };
            parts.extend(q.map(|q| (Occur::Must, q)));
        }
        match parts.len() {
            0 => None,
            1 => parts.pop().map(|(_, q)| q),
            _ => Some(Box::new(BooleanQuery::new(parts))),
        }
    }

    /// Typo expansions of a Latin stem: index terms at edit distance 1 that are more frequent
    /// than the stem itself (a misspelling is rarer than the word it misspells, so a correctly
    /// spelled common word gets none).
    ///
    /// The first letter must be right (like Elasticsearch's `prefix_length: 1`, and Meilisearch,
    /// which counts a typo there as two). Besides matching what users get wrong, it confines the
    /// automaton to one letter's branch of the term dictionary: unconstrained, it wandered through
    /// every term starting with a Chinese character and took 7 ms on a 170k-listing index.
    pub(super) fn fuzzy_expansions(&self, searcher: &Searcher, stem: &str) -> Arc<[String]> {
        let generation = searcher.generation().generation_id();
        let cached = |cache: &mut FuzzyCache| {
            if cache.generation != generation {
                *cache = FuzzyCache { generation, expansions: HashMap::new() };
            }
            cache.expansions.get(stem).cloned()
        };
        if let Some(found) = cached(&mut self.fuzzy_cache.lock().unwrap_or_else(|p| p.into_inner())) {
            return found;
        }
        let found: Arc<[String]> = self.find_fuzzy_expansions(searcher, stem).into();
        let mut cache = self.fuzzy_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation == generation {
            if cache.expansions.len() >= FUZZY_CACHE_ENTRIES {
                cache.expansions.clear();
            }
            cache.expansions.insert(stem.to_owned(), found.clone());
        }
        found
    }

    /// [`Shared::fuzzy_expansions`], looked up in the term dictionaries.
    fn find_fuzzy_expansions(&self, searcher: &Searcher, stem: &str) -> Vec<String> {
        let Some(first) = stem.bytes().next().filter(u8::is_ascii_alphanumeric) else { return Vec::new() };
        let probe = FuzzyTermQuery::new(Term::from_field_text(self.f.title, stem), 1, true);
        let Ok(dfa) = probe.automaton() else { return Vec::new() };
        let mut found: HashMap<String, u64> = HashMap::new();
        let mut own = 0u64;
        for segment in searcher.segment_readers() {
            for field in [self.f.title, self.f.summary, self.f.description, self.f.keywords] {
                let Ok(inverted) = segment.inverted_index(field) else { continue };
                let branch = inverted.terms().search(&dfa).ge([first]).lt([first + 1]);
                let Ok(mut stream) = branch.into_stream() else { continue };
                while stream.advance() {
                    let df = u64::from(stream.value().doc_freq);
                    match std::str::from_utf8(stream.key()) {
                        Ok(t) if t == stem => own += df,
                        Ok(t) => *found.entry(t.to_string()).or_default() += df,
                        Err(_) => {}
                    }
                }
            }
        }
        let mut out: Vec<(String, u64)> = found.into_iter().filter(|(_, df)| *df > own).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(self.ranking.fuzzy_max_expansions);
        out.into_iter().map(|(t, _)| t).collect()
    }

    /// The scoring query for the analysed text (None when nothing is searchable), and the typo
    /// expansions it used (for highlighting).
    ///
    /// Each query word becomes one concept: the word in every text field, plus (CJK) its sub-words
    /// and bigrams, (Latin) its typo expansions, and the synonyms of any expression it is part of.
    /// Concepts are combined by [`CoordQuery`]; bigrams bridging two CJK words and synonyms of
    /// nothing in particular add to the score without counting as words. Quoted phrases are
    /// required.
    pub(super) fn text_query(
        &self,
        searcher: &Searcher,
        qa: &QueryAnalysis,
        expand: Expansions,
    ) -> (Option<Box<dyn Query>>, Vec<String>) {
        let r = &self.ranking;
        let text_fields = self.text_fields();
        let mut concepts: Vec<Clauses> = Vec::new();
        let mut concept_keys: Vec<(bool, String)> = Vec::new(); // (is_cjk, stem or word)
        let mut concept_common: Vec<bool> = Vec::new();
        let num_docs = searcher.num_docs();
        // A word in more than `common_cutoff` of the listings (方法, 研究, "network") scores but
        // does not match on its own, and gets no sub-words, bigrams or typo expansions: they
        // would be commoner still.
        let common = |text: &str| {
            num_docs >= r.common_min_docs && {
                let df = text_fields
                    .iter()
                    .map(|&(f, _)| searcher.doc_freq(&Term::from_field_text(f, text)).unwrap_or(0))
                    .max()
                    .unwrap_or(0);
                df as f64 > f64::from(r.common_cutoff) * num_docs as f64
            }
        };
        let mut expansions = Vec::new();
        let mut fuzzy_words = 0;
        for t in &qa.latin {
            let w = t.count as f32;
            let is_common = common(&t.stem);
            let mut c: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for &(f, b) in &text_fields {
                c.push((Occur::Should, boxed_term(f, &t.stem, b * w)));
            }
            let eligible = expand.fuzzy
                && !is_common
                && fuzzy_words < r.fuzzy_max_words
                && t.normalized.chars().count() >= r.fuzzy_min_chars
                && t.normalized.chars().all(|c| c.is_ascii_alphabetic());
            if eligible {
                fuzzy_words += 1;
                for e in self.fuzzy_expansions(searcher, &t.stem).iter() {
                    for &(f, b) in &text_fields {
                        c.push((Occur::Should, boxed_term(f, e, b * w * r.fuzzy)));
                    }
                    expansions.push(e.clone());
                }
            }
            concepts.push(c);
            concept_keys.push((false, t.stem.clone()));
            concept_common.push(is_common);
        }
        for t in &qa.cjk {
            let w = t.count as f32;
            let is_common = common(&t.word);
            let mut c: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for &(f, b) in &text_fields {
                c.push((Occur::Should, boxed_term(f, &t.word, b * w)));
                for s in t.subwords.iter().filter(|_| !is_common) {
                    c.push((Occur::Should, boxed_term(f, s, b * w * r.subword)));
                }
            }
            // A character typed on its own (锂, 硅, 膜: not cut by jieba from a longer run, whose
            // bridging bigrams match it there) is rarely a word of its own in running text: it
            // sits inside bigrams (锂离, 硅基), so it matches any bigram it starts, as in a quoted
            // phrase. Before, a search for 锂 found nothing at all.
            let lone = t.grams.is_empty()
                && t.word.chars().count() == 1
                && !qa.bridges.iter().any(|(g, _)| g.contains(t.word.as_str()));
            if expand.bigrams && !is_common && lone {
                for (f, b) in self.gram_fields() {
                    let prefix = FuzzyTermQuery::new_prefix(Term::from_field_text(f, &t.word), 0, false);
                    c.push((Occur::Should, Box::new(BoostQuery::new(Box::new(prefix), b * w))));
                }
            } else if expand.bigrams && !is_common {
                let grams: Vec<&str> = if t.grams.is_empty() {
                    vec![t.word.as_str()]
                } else {
                    t.grams.iter().map(String::as_str).collect()
                };
                for g in grams {
                    for (f, b) in self.gram_fields() {
                        c.push((Occur::Should, boxed_term(f, g, b * w)));
                    }
                }
            }
            concepts.push(c);
            concept_keys.push((true, t.word.clone()));
            concept_common.push(is_common);
        }
        let mut extra: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if expand.bigrams {
            for (g, n) in &qa.bridges {
                for (f, b) in self.gram_fields() {
                    extra.push((Occur::Should, boxed_term(f, g, b * *n as f32)));
                }
            }
        }
        for syn in &qa.synonyms {
            let Some(q) = self.phrase_query(&syn.phrase) else { continue };
            let owners: Vec<usize> = concept_keys
                .iter()
                .enumerate()
                .filter(|(_, (cjk, key))| match &syn.key {
                    SynonymKey::Literal(lit) => lit.contains(key.as_str()) || (*cjk && key.contains(lit.as_str())),
                    SynonymKey::Stems(stems) => !cjk && stems.contains(key),
                })
                .map(|(i, _)| i)
                .collect();
            if owners.is_empty() {
                extra.push((Occur::Should, Box::new(BoostQuery::new(q, r.synonym))));
                continue;
            }
            for i in owners {
                concepts[i].push((Occur::Should, Box::new(BoostQuery::new(q.box_clone(), r.synonym))));
            }
        }
        let must: Vec<(Occur, Box<dyn Query>)> =
            qa.phrases.iter().filter_map(|p| self.phrase_query(p)).map(|q| (Occur::Must, q)).collect();
        let mut should = extra;
        let coordinate = (2..=r.coordination_max_words).contains(&concepts.len()) && r.coordination > 0.0;
        let split = concept_common.contains(&true) && concept_common.contains(&false);
        if coordinate {
            // Distinctive concepts first: they drive the matching.
            let mut ordered: Vec<(bool, Clauses)> = concept_common.into_iter().zip(concepts).collect();
            ordered.sort_by_key(|(common, _)| *common);
            let drivers = if split { ordered.iter().filter(|(common, _)| !common).count() } else { ordered.len() };
            let concepts = ordered.into_iter().map(|(_, c)| Box::new(BooleanQuery::new(c)) as Box<dyn Query>).collect();
            should.push((Occur::Should, Box::new(CoordQuery::new(concepts, drivers, r.coordination))));
        } else if split {
            // The same matching rule for long queries, with tantivy's own (faster) unions.
            let (mut rare, mut common) = (Vec::new(), Vec::new());
            for (is_common, clauses) in concept_common.into_iter().zip(concepts) {
                if is_common { common.extend(clauses) } else { rare.extend(clauses) }
            }
            let mut both: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(BooleanQuery::new(rare)))];
            both.push((Occur::Should, Box::new(BooleanQuery::new(common))));
            should.push((Occur::Should, Box::new(BooleanQuery::new(both))));
        } else {
            should.extend(concepts.into_iter().flatten());
        }
        if should.is_empty() && must.is_empty() {
            return (None, expansions);
        }
        if must.is_empty() {
            return (Some(Box::new(BooleanQuery::new(should))), expansions);
        }
        let mut clauses = must;
        if !should.is_empty() {
            clauses.push((Occur::Should, Box::new(BooleanQuery::new(should))));
        }
        (Some(Box::new(BooleanQuery::new(clauses))), expansions)
    }

    pub(super) fn filter_clauses(&self, fl: &Filters) -> Vec<Box<dyn Query>> {
        let f = &self.f;
        let mut out = Vec::new();
        let term =
            |field: Field, v: &str| filter(TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic));
        if let Some(v) = &fl.kind {
            out.push(term(f.kind, v));
        }
        if let Some(v) = &fl.discipline {
            out.push(term(f.discipline, v));
        }
        if let Some(v) = &fl.transfer_mode {
            out.push(term(f.transfer_mode, v));
        }
        if let Some(v) = &fl.institute {
            out.push(term(f.institute_id, &v.to_string()));
        }
        if let Some(v) = &fl.region {
            out.push(term(f.region, v));
        }
        if let Some(v) = fl.auction {
            out.push(term(f.auction, v.as_str()));
        }
        if let Some(v) = fl.lang {
            out.push(term(f.lang, v.code()));
        }
        if let Some(ids) = &fl.listing_ids {
            // A set of terms on the id field: one posting lookup per id, however large the index.
            let terms = ids.iter().map(|id| Term::from_field_text(f.listing_id, &id.to_string()));
            out.push(filter(TermSetQuery::new(terms)));
        }
        if fl.trl_min.is_some() || fl.trl_max.is_some() {
            let lo = fl.trl_min.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(f.trl, v.into())));
            let hi = fl.trl_max.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_u64(f.trl, v.into())));
            out.push(filter(RangeQuery::new(lo, hi)));
        }
        if fl.price_min.is_some() || fl.price_max.is_some() {
            let lo = fl.price_min.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.price, v)));
            let hi = fl.price_max.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.price, v)));
            out.push(filter(RangeQuery::new(lo, hi)));
        }
        out
    }
}
