//! What the searcher collects besides the top hits: sort keys, facet counts, and the BM25
//! statistics the scores are computed with.

use super::*;
use tantivy::index::SegmentId;

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

/// One segment's facet columns laid out for counting: for each of [`STR_FACETS`], the value
/// ordinals of every document in a flat array, the values by ordinal, and the TRL of every
/// document.
///
/// Counting walks every match of a query, so it reads these plain arrays instead of tantivy's
/// column indexes (which resolve each document through a rank or row-range lookup: a tenth of
/// the query CPU in a profile of the bench-search mix). Naming the counted values is the other
/// reason: facet dictionaries live in compressed sstable blocks and tantivy decompresses a block
/// with a fresh zstd context for every ordinal looked up, a quarter of the query CPU before this
/// cache. A segment never changes, so all of this is read once, in one pass per column.
pub(super) struct SegmentFacets {
    columns: Vec<FacetColumn>,
    /// Each document's TRL (1–9), 0 for none.
    trl: Vec<u8>,
}

#[derive(Default)]
struct FacetColumn {
    ords: FacetOrds,
    values: Vec<String>,
}

/// A column with at most one value per document (kind, discipline, region) is one ordinal per
/// document, a single load when counting; only a multi-valued one (transfer modes) needs the
/// indirection through `starts`.
enum FacetOrds {
    /// The document's value ordinal, or [`NO_VALUE`].
    Single(Vec<u16>),
    /// `ords[starts[doc]..starts[doc + 1]]` are the document's value ordinals.
    Multi { starts: Vec<u32>, ords: Vec<u32> },
}

impl Default for FacetOrds {
    fn default() -> Self {
        FacetOrds::Multi { starts: Vec::new(), ords: Vec::new() }
    }
}

const NO_VALUE: u16 = u16::MAX;

impl SegmentFacets {
    fn read(segment: &SegmentReader) -> SegmentFacets {
        let ff = segment.fast_fields();
        let max_doc = segment.max_doc();
        let columns = STR_FACETS
            .iter()
            .map(|name| {
                let mut out = FacetColumn::default();
                let Ok(Some(column)) = ff.str(name) else {
                    out.ords = FacetOrds::Single(vec![NO_VALUE; max_doc as usize]);
                    return out;
                };
                if let Ok(mut terms) = column.dictionary().stream() {
                    out.values.reserve(column.num_terms());
                    while terms.advance() {
                        out.values.push(String::from_utf8_lossy(terms.key()).into_owned());
                    }
                }
                let (mut starts, mut ords) = (Vec::with_capacity(max_doc as usize + 1), Vec::new());
                for doc in 0..max_doc {
                    starts.push(ords.len() as u32);
                    ords.extend(column.term_ords(doc).map(|o| o as u32));
                }
                starts.push(ords.len() as u32);
                let single = out.values.len() < usize::from(NO_VALUE) && starts.windows(2).all(|w| w[1] - w[0] <= 1);
                out.ords = if single {
                    FacetOrds::Single(
                        starts
                            .windows(2)
                            .map(|w| if w[1] > w[0] { ords[w[0] as usize] as u16 } else { NO_VALUE })
                            .collect(),
                    )
                } else {
                    FacetOrds::Multi { starts, ords }
                };
                out
            })
            .collect();
        let trl = match ff.u64("trl") {
            Ok(column) => (0..max_doc).map(|doc| column.first(doc).map_or(0, |v| v.min(9) as u8)).collect(),
            Err(_) => vec![0; max_doc as usize],
        };
        SegmentFacets { columns, trl }
    }
}

/// The facet values of the current searcher's segments, and of every segment read so far.
#[derive(Default)]
pub(super) struct FacetValuesCache {
    generation: Option<u64>,
    current: Arc<Vec<Arc<SegmentFacets>>>,
    by_segment: HashMap<SegmentId, Arc<SegmentFacets>>,
}

impl Shared {
    /// The facet values of every segment of `searcher` in searcher order, reusing what earlier
    /// generations read for the segments they share with it.
    pub(super) fn facet_values(&self, searcher: &Searcher) -> Arc<Vec<Arc<SegmentFacets>>> {
        let generation = searcher.generation().generation_id();
        let mut cache = self.facet_values.lock().unwrap_or_else(|p| p.into_inner());
        if cache.generation == Some(generation) {
            return cache.current.clone();
        }
        let segments = searcher.segment_readers();
        let mut by_segment = HashMap::with_capacity(segments.len());
        let current: Vec<Arc<SegmentFacets>> = segments
            .iter()
            .map(|segment| {
                let values = cache
                    .by_segment
                    .get(&segment.segment_id())
                    .cloned()
                    .unwrap_or_else(|| Arc::new(SegmentFacets::read(segment)));
                by_segment.insert(segment.segment_id(), values.clone());
                values
            })
            .collect();
        // Segments merged away are forgotten with the generations that had them.
        *cache = FacetValuesCache { generation: Some(generation), current: Arc::new(current), by_segment };
        cache.current.clone()
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

/// Counts every matching document, and the facet values over them: (facets, total). Tantivy's
/// `Count` beside it would be one more call per match for a number the facets already have.
pub(super) struct FacetCollector {
    /// Per segment ordinal of the searcher the collector runs on.
    pub values: Arc<Vec<Arc<SegmentFacets>>>,
}

/// Notes each match's document and counts them all at the harvest, one facet column at a time:
/// a tight loop over one array per column, where counting as the documents came walked every
/// column for each of them (this collector's share of the query CPU fell from 8.3% to 6.6% in a
/// profile of the bench-search mix).
pub(super) struct FacetSegmentCollector {
    facets: Arc<SegmentFacets>,
    docs: Vec<DocId>,
}

impl Collector for FacetCollector {
    type Fruit = (Facets, u64);
    type Child = FacetSegmentCollector;

    fn for_segment(&self, ordinal: u32, segment: &SegmentReader) -> tantivy::Result<FacetSegmentCollector> {
        let facets = match self.values.get(ordinal as usize) {
            Some(v) => v.clone(),
            None => Arc::new(SegmentFacets::read(segment)),
        };
        Ok(FacetSegmentCollector { facets, docs: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<(Facets, u64)>) -> tantivy::Result<(Facets, u64)> {
        let mut out = Facets::default();
        let mut total = 0;
        for (f, matched) in fruits {
            total += matched;
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
        Ok((out, total))
    }
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = (Facets, u64);

    fn collect(&mut self, doc: DocId, _: Score) {
        self.docs.push(doc);
    }

    fn harvest(self) -> (Facets, u64) {
        let docs = &self.docs;
        let mut maps = self.facets.columns.iter().map(|column| {
            let mut counts = vec![0u64; column.values.len()];
            match &column.ords {
                FacetOrds::Single(ords) => {
                    for &doc in docs {
                        // A document without a value holds NO_VALUE, past the end of `counts`.
                        if let Some(n) = ords.get(doc as usize).and_then(|&ord| counts.get_mut(usize::from(ord))) {
                            *n += 1;
                        }
                    }
                }
                FacetOrds::Multi { starts, ords } => {
                    for &doc in docs {
                        let doc = doc as usize;
                        let (Some(&from), Some(&to)) = (starts.get(doc), starts.get(doc + 1)) else { continue };
                        for &ord in ords.get(from as usize..to as usize).unwrap_or_default() {
                            if let Some(n) = counts.get_mut(ord as usize) {
                                *n += 1;
                            }
                        }
                    }
                }
            }
            counts
                .into_iter()
                .zip(&column.values)
                .filter(|(n, _)| *n > 0)
                .map(|(n, value)| (value.clone(), n))
                .collect::<BTreeMap<String, u64>>()
        });
        let mut trl_counts = [0u64; 10]; // by TRL; 0 is "none" and is not reported
        for &doc in docs {
            if let Some(&trl) = self.facets.trl.get(doc as usize) {
                trl_counts[usize::from(trl.min(9))] += 1;
            }
        }
        let trl =
            trl_counts.iter().enumerate().skip(1).filter(|(_, n)| **n > 0).map(|(v, n)| (v.to_string(), *n)).collect();
        let facets = Facets {
            kind: maps.next().unwrap_or_default(),
            discipline: maps.next().unwrap_or_default(),
            transfer_mode: maps.next().unwrap_or_default(),
            region: maps.next().unwrap_or_default(),
            trl,
        };
        (facets, docs.len() as u64)
    }
}
