//! Bilingual text. Listings are written in Chinese, English or both; a [`LangText`] keeps each
//! language's version side by side instead of guessing which one a string is in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

/// A text in Chinese and/or English. An empty or whitespace-only version counts as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LangText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl LangText {
    pub fn zh(text: impl Into<String>) -> Self {
        Self { zh: Some(text.into()), en: None }
    }

    pub fn en(text: impl Into<String>) -> Self {
        Self { zh: None, en: Some(text.into()) }
    }

    pub fn get(&self, lang: Lang) -> Option<&str> {
        let value = match lang {
            Lang::Zh => self.zh.as_deref(),
            Lang::En => self.en.as_deref(),
        };
        value.filter(|s| !s.trim().is_empty())
    }

    pub fn has(&self, lang: Lang) -> bool {
        self.get(lang).is_some()
    }

    pub fn is_empty(&self) -> bool {
        !self.has(Lang::Zh) && !self.has(Lang::En)
    }

    /// The text in `preferred`, falling back to the other language.
    pub fn best(&self, preferred: Lang) -> Option<&str> {
        let other = match preferred {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        };
        self.get(preferred).or_else(|| self.get(other))
    }

    /// Every present version, for length checks and indexing.
    pub fn versions(&self) -> impl Iterator<Item = (Lang, &str)> {
        [Lang::Zh, Lang::En].into_iter().filter_map(|l| self.get(l).map(|t| (l, t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_only_text_counts_as_absent() {
        let t = LangText { zh: Some("  ".into()), en: Some("Battery".into()) };
        assert!(!t.has(Lang::Zh));
        assert_eq!(t.best(Lang::Zh), Some("Battery"));
    }
}
