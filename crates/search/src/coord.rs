//! A disjunction that rewards documents matching more of the query's words.
//!
//! BM25 sums per-term scores, so one frequent match of a single word can outrank a listing that
//! has every word of the query once. Users expect the opposite (Meilisearch's first ranking rule
//! is "words"). [`CoordQuery`] takes one sub-query per query word ("concept": the word in every
//! field, its sub-words, typo expansions and synonyms) and scores a document as the sum of the
//! concept scores times `(matched / total) ^ exponent` — Lucene's classic coordination factor
//! with a tunable strength.
//!
//! Matching is an OR over the first `drivers` concepts only; the others (words common in the
//! index) are looked up for the documents the drivers produce and add to their score. Without
//! that, a query containing 方法 or "network" walks half the index.

use std::fmt;

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

pub(crate) struct CoordQuery {
    concepts: Vec<Box<dyn Query>>,
    drivers: usize,
    exponent: f32,
}

impl CoordQuery {
    /// `concepts[..drivers]` decide what matches; all of them score. An exponent of 0 is a plain
    /// sum.
    pub fn new(concepts: Vec<Box<dyn Query>>, drivers: usize, exponent: f32) -> Self {
        let drivers = drivers.clamp(1, concepts.len().max(1));
        CoordQuery { concepts, drivers, exponent }
    }

    fn factors(&self) -> Vec<Score> {
        let n = self.concepts.len().max(1) as f32;
        (0..=self.concepts.len()).map(|k| (k as f32 / n).powf(self.exponent)).collect()
    }
}

impl Clone for CoordQuery {
    fn clone(&self) -> Self {
        CoordQuery {
            concepts: self.concepts.iter().map(|q| q.box_clone()).collect(),
            drivers: self.drivers,
            exponent: self.exponent,
        }
    }
}

impl fmt::Debug for CoordQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoordQuery")
            .field("concepts", &self.concepts)
            .field("drivers", &self.drivers)
            .field("exponent", &self.exponent)
            .finish()
    }
}

impl Query for CoordQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self.concepts.iter().map(|q| q.weight(enable_scoring)).collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(CoordWeight { weights, drivers: self.drivers, factors: self.factors() }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        for q in &self.concepts {
            q.query_terms(visitor);
        }
    }
}

struct CoordWeight {
    weights: Vec<Box<dyn Weight>>,
    drivers: usize,
    factors: Vec<Score>,
}

impl Weight for CoordWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let children = self.weights.iter().map(|w| w.scorer(reader, boost)).collect::<tantivy::Result<Vec<_>>>()?;
        let mut scorer = CoordScorer { children, drivers: self.drivers, doc: 0, factors: self.factors.clone() };
        scorer.doc = scorer.min_doc();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!("document {doc} does not match")));
        }
        Ok(Explanation::new("coordinated sum of concept scores", scorer.score()))
    }
}

struct CoordScorer {
    children: Vec<Box<dyn Scorer>>,
    /// `children[..drivers]` are iterated; the rest are only sought to the current document.
    drivers: usize,
    doc: DocId,
    /// Factor by number of matched concepts.
    factors: Vec<Score>,
}

impl CoordScorer {
    fn min_doc(&self) -> DocId {
        self.children[..self.drivers].iter().map(|c| c.doc()).min().unwrap_or(TERMINATED)
    }
}

impl DocSet for CoordScorer {
    fn advance(&mut self) -> DocId {
        let current = self.doc;
        for c in &mut self.children[..self.drivers] {
            if c.doc() == current {
                c.advance();
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        for c in &mut self.children[..self.drivers] {
            if c.doc() < target {
                c.seek(target);
            }
        }
        self.doc = self.min_doc();
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.children[..self.drivers].iter().map(|c| c.size_hint()).max().unwrap_or(0)
    }
}

impl Scorer for CoordScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        let mut sum = 0.0;
        let mut matched = 0;
        for (i, c) in self.children.iter_mut().enumerate() {
            if i >= self.drivers && c.doc() < doc {
                c.seek(doc);
            }
            if c.doc() == doc {
                sum += c.score();
                matched += 1;
            }
        }
        sum * self.factors[matched]
    }
}
