//! What the searcher collects besides the top hits: sort keys, facet counts, and the BM25
//! statistics the scores are computed with.

use super::*;

impl Shared {
    /// Counted once per searcher generation (one pass over the field norms, about a millisecond
    /// per 100k documents) and shared by the queries that use it.
    pub(super) fn docs_with_field(&self, searcher: &Searcher) -> Arc<HashMap<Field, u64>> {
        let generation = searcher.generation().generation_id();
        let mut cache = self.field_counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, counts)) = cache.as_ref()
            && *g == generation
        {
            return counts.clone();
        }
        let mut counts = HashMap::new();
        for (field, _) in self.text_fields().into_iter().chain(self.gram_fields()) {
            let mut n = 0u64;
            for segment in searcher.segment_readers() {
                if let Ok(norms) = segment.get_fieldnorms_reader(field) {
                    n += (0..segment.max_doc()).filter(|&d| norms.fieldnorm_id(d) > 0).count() as u64;
                }
            }
            counts.insert(field, n);
        }
        let counts = Arc::new(counts);
        *cache = Some((generation, counts.clone()));
        counts
    }
}

/// The sort key of a hit: a primary value (larger first) and the relevance score as tie-break.
/// Missing prices and auction ends map to `i64::MIN` so they come last in either direction.
pub(super) fn sort_key(
    sort: Sort,
    has_text: bool,
) -> impl Fn(&SegmentReader) -> Box<dyn Fn(DocId, Score) -> (i64, Score) + Send + Sync> + Send + Sync + 'static {
    move |segment: &SegmentReader| {
        let column = |name: &str| -> Option<Column<i64>> { segment.fast_fields().i64(name).ok() };
        match (sort, has_text) {
            (Sort::Relevance, true) => Box::new(|_, score| (0, score)),
            (Sort::Relevance, false) | (Sort::Newest, _) => {
                let c = column(F_PUBLISHED);
                Box::new(move |doc, score| (c.as_ref().and_then(|c| c.first(doc)).unwrap_or(i64::MIN), score))
            }
            (Sort::PriceDesc, _) => {
                let c = column(F_PRICE);
                Box::new(move |doc, score| (c.as_ref().and_then(|c| c.first(doc)).unwrap_or(i64::MIN), score))
            }
            (Sort::PriceAsc, _) | (Sort::EndingSoon, _) => {
                let c = column(if sort == Sort::PriceAsc { F_PRICE } else { F_ENDS });
                Box::new(move |doc, score| {
                    let v = c.as_ref().and_then(|c| c.first(doc));
                    (v.map_or(i64::MIN, |v| v.checked_neg().unwrap_or(i64::MAX)), score)
                })
            }
        }
    }
}

/// BM25 statistics with Lucene's average field length: tokens divided by the documents that
/// have the field, not by all documents. Tantivy divides by all documents, which makes the
/// average of a sometimes-empty field (description, summary, keywords) too small and penalises
/// every listing that does fill it in.
pub(super) struct FieldLengthStats<'a> {
    pub searcher: &'a Searcher,
    pub docs_with_field: &'a HashMap<Field, u64>,
}

impl Bm25StatisticsProvider for FieldLengthStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let tokens = Bm25StatisticsProvider::total_num_tokens(self.searcher, field)?;
        let docs = Bm25StatisticsProvider::total_num_docs(self.searcher)?;
        Ok(match self.docs_with_field.get(&field) {
            // Scaled so that tantivy's `tokens / all docs` comes out as `tokens / docs with field`.
            Some(&with) if with > 0 => (tokens as f64 * docs as f64 / with as f64).round() as u64,
            _ => tokens,
        })
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Bm25StatisticsProvider::total_num_docs(self.searcher)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.searcher.doc_freq(term)
    }
}

/// Counts facet values over every matching document.
pub(super) struct FacetCollector;

pub(super) struct FacetSegmentCollector {
    strs: Vec<Option<(StrColumn, Vec<u64>)>>,
    trl: Option<Column<u64>>,
    trl_counts: [u64; 10],
}

impl Collector for FacetCollector {
    type Fruit = Facets;
    type Child = FacetSegmentCollector;

    fn for_segment(&self, _: u32, segment: &SegmentReader) -> tantivy::Result<FacetSegmentCollector> {
        let ff = segment.fast_fields();
        let mut strs = Vec::with_capacity(STR_FACETS.len());
        for name in STR_FACETS {
            strs.push(ff.str(name)?.map(|c| {
                let n = c.num_terms();
                (c, vec![0u64; n])
            }));
        }
        Ok(FacetSegmentCollector { strs, trl: ff.u64("trl").ok(), trl_counts: [0; 10] })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Facets>) -> tantivy::Result<Facets> {
        let mut out = Facets::default();
        for f in fruits {
            for (into, from) in [
                (&mut out.kind, f.kind),
                (&mut out.discipline, f.discipline),
                (&mut out.transfer_mode, f.transfer_mode),
                (&mut out.region, f.region),
                (&mut out.trl, f.trl),
            ] {
                for (k, v) in from {
                    *into.entry(k).or_default() += v;
                }
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = Facets;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (column, counts) in self.strs.iter_mut().flatten() {
            for ord in column.term_ords(doc) {
                counts[ord as usize] += 1;
            }
        }
        if let Some(v) = self.trl.as_ref().and_then(|c| c.first(doc)) {
            self.trl_counts[(v as usize).min(9)] += 1;
        }
    }

    fn harvest(self) -> Facets {
        let mut maps: Vec<BTreeMap<String, u64>> = Vec::with_capacity(STR_FACETS.len());
        for entry in self.strs {
            let mut map = BTreeMap::new();
            if let Some((column, counts)) = entry {
                for (ord, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                    let mut s = String::new();
                    if column.ord_to_str(ord as u64, &mut s).unwrap_or(false) {
                        map.insert(s, n);
                    }
                }
            }
            maps.push(map);
        }
        let trl =
            self.trl_counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(v, n)| (v.to_string(), *n)).collect();
        let mut it = maps.into_iter();
        Facets {
            kind: it.next().unwrap_or_default(),
            discipline: it.next().unwrap_or_default(),
            transfer_mode: it.next().unwrap_or_default(),
            region: it.next().unwrap_or_default(),
            trl,
        }
    }
}
