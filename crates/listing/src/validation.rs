//! Field-level validation of listing content. Every problem is reported at once, each with the
//! path of the field, a stable code and a readable message, so a form can mark all of them.

use crate::content::{ListingContent, Patent};
use crate::ipc;
use achex_core::{Lang, LangText};
use serde::Serialize;
use std::collections::HashSet;
use utoipa::ToSchema;

pub const TITLE_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 2_000;
pub const DESCRIPTION_MAX: usize = 50_000;
pub const SHORT_TEXT_MAX: usize = 100;
pub const KEYWORDS_MAX: usize = 30;
pub const LIST_MAX: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the offending field, e.g. `title.zh` or `patents[1].number`.
    pub field: String,
    /// Stable code: `required`, `too_long`, `out_of_range`, `invalid_format`, `duplicate`, `too_many`,
    /// `incomplete_language`, `inconsistent`.
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{} field(s) are invalid", errors.len())]
pub struct ValidationErrors {
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    pub fn add(&mut self, field: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), code, message: message.into() });
    }

    pub fn single(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, code, message);
        errors
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() { Ok(()) } else { Err(self) }
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn check_text(errors: &mut ValidationErrors, field: &str, text: &LangText, max: usize) {
    for (lang, value) in text.versions() {
        if chars(value) > max {
            errors.add(format!("{field}.{}", lang.code()), "too_long", format!("at most {max} characters"));
        }
    }
}

fn check_short(errors: &mut ValidationErrors, field: &str, value: &str, required: bool) {
    if required && value.trim().is_empty() {
        errors.add(field, "required", "must not be empty");
    } else if chars(value) > SHORT_TEXT_MAX {
        errors.add(field, "too_long", format!("at most {SHORT_TEXT_MAX} characters"));
    }
}

/// A minimal e-mail shape check: one `@`, something on both sides, a dot in the domain.
pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
        && s.len() <= 254
}

fn check_patent(errors: &mut ValidationErrors, index: usize, patent: &Patent) {
    let field = |name: &str| format!("patents[{index}].{name}");
    let number = patent.number.trim();
    if number.is_empty() {
        errors.add(field("number"), "required", "must not be empty");
    } else if number.len() > 40
        || !number.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/' | ' '))
    {
        errors.add(field("number"), "invalid_format", "letters, digits, '.', '-', '/' only, at most 40");
    }
    if let (Some(filed), Some(granted)) = (patent.filed_on, patent.granted_on)
        && granted < filed
    {
        errors.add(field("granted_on"), "inconsistent", "a patent cannot be granted before it was filed");
    }
    if let (Some(filed), Some(expires)) = (patent.filed_on, patent.expires_on)
        && expires <= filed
    {
        errors.add(field("expires_on"), "inconsistent", "a patent cannot expire before it was filed");
    }
}

impl ListingContent {
    /// Checks every field. On success the content can be stored and, later, submitted.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();

        // At least one language must be complete: title, summary and description all present.
        let complete = [Lang::Zh, Lang::En]
            .into_iter()
            .any(|l| self.title.has(l) && self.summary.has(l) && self.description.has(l));
        if !complete {
            for (name, text) in [("title", &self.title), ("summary", &self.summary), ("description", &self.description)]
            {
                if text.is_empty() {
                    errors.add(name, "required", "give it in Chinese (zh) or English (en)");
                }
            }
            if errors.errors.is_empty() {
                errors.add(
                    "title",
                    "incomplete_language",
                    "title, summary and description must all be given in at least one language",
                );
            }
        }
        check_text(&mut errors, "title", &self.title, TITLE_MAX);
        check_text(&mut errors, "summary", &self.summary, SUMMARY_MAX);
        check_text(&mut errors, "description", &self.description, DESCRIPTION_MAX);

        if !(1..=9).contains(&self.trl) {
            errors.add("trl", "out_of_range", "technology readiness level is 1 to 9");
        }

        if self.ipc_classes.len() > LIST_MAX {
            errors.add("ipc_classes", "too_many", format!("at most {LIST_MAX}"));
        }
        let mut seen_ipc = HashSet::new();
        for (i, class) in self.ipc_classes.iter().enumerate() {
            match ipc::normalize(class) {
                None => errors.add(format!("ipc_classes[{i}]"), "invalid_format", "an IPC symbol such as H01M 10/0525"),
                Some(canonical) => {
                    if !seen_ipc.insert(canonical) {
                        errors.add(format!("ipc_classes[{i}]"), "duplicate", "listed twice")
                    }
                }
            }
        }

        if self.patents.len() > LIST_MAX {
            errors.add("patents", "too_many", format!("at most {LIST_MAX}"));
        }
        if self.kind.requires_patent() && self.patents.is_empty() {
            errors.add("patents", "required", "a patent listing names at least one patent");
        }
        let mut seen_patents = HashSet::new();
        for (i, patent) in self.patents.iter().enumerate() {
            check_patent(&mut errors, i, patent);
            if !seen_patents.insert(patent.number.trim().to_ascii_uppercase()) {
                errors.add(format!("patents[{i}].number"), "duplicate", "listed twice");
            }
        }

        if self.transfer_modes.is_empty() {
            errors.add("transfer_modes", "required", "offer at least one transfer mode");
        }
        let unique_modes: HashSet<_> = self.transfer_modes.iter().collect();
        if unique_modes.len() != self.transfer_modes.len() {
            errors.add("transfer_modes", "duplicate", "each mode once");
        }

        if let Some(price) = self.asking_price
            && price.amount <= 0
        {
            errors.add("asking_price.amount", "out_of_range", "a price is positive; use null for negotiable");
        }

        if self.keywords.len() > KEYWORDS_MAX {
            errors.add("keywords", "too_many", format!("at most {KEYWORDS_MAX}"));
        }
        for (i, keyword) in self.keywords.iter().enumerate() {
            check_short(&mut errors, &format!("keywords[{i}]"), keyword, true);
        }

        check_short(&mut errors, "discipline", &self.discipline, true);
        check_short(&mut errors, "region", &self.region, true);
        check_short(&mut errors, "contact.name", &self.contact.name, true);
        let email = self.contact.email.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let phone = self.contact.phone.as_deref().map(str::trim).filter(|s| !s.is_empty());
        match (email, phone) {
            (None, None) => errors.add("contact", "required", "give an e-mail address or a phone number"),
            _ => {
                if let Some(email) = email
                    && !looks_like_email(email)
                {
                    errors.add("contact.email", "invalid_format", "not an e-mail address");
                }
                if let Some(phone) = phone
                    && (phone.len() > 30
                        || !phone.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')')))
                {
                    errors.add("contact.phone", "invalid_format", "digits, spaces, + - ( ) only");
                }
            }
        }

        errors.into_result()
    }

    /// Canonical IPC spellings (call after [`validate`](Self::validate) succeeded).
    pub fn normalize(&mut self) {
        for class in &mut self.ipc_classes {
            if let Some(canonical) = ipc::normalize(class) {
                *class = canonical;
            }
        }
        for keyword in &mut self.keywords {
            *keyword = keyword.trim().to_string();
        }
        self.discipline = self.discipline.trim().to_string();
        self.region = self.region.trim().to_string();
    }

    /// What a reviewer must see fixed before a listing can be approved, beyond field validity:
    /// the screening rules of the platform.
    pub fn screening_issues(&self) -> Vec<FieldError> {
        let mut errors = ValidationErrors::default();
        if self.kind.requires_patent() && !self.patents.iter().any(|p| p.legal_status.is_live()) {
            errors.add("patents", "no_patent_in_force", "no listed patent is pending or granted");
        }
        errors.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::*;
    use achex_core::Money;

    pub(crate) fn valid() -> ListingContent {
        ListingContent {
            title: LangText::zh("一种锂电池正极材料"),
            summary: LangText::zh("高能量密度正极材料"),
            description: LangText::zh("本发明公开了一种锂电池正极材料及其制备方法。"),
            kind: ListingKind::InventionPatent,
            trl: 5,
            ipc_classes: vec!["h01m 10/0525".into()],
            patents: vec![Patent {
                number: "CN114512345A".into(),
                legal_status: PatentLegalStatus::Granted,
                filed_on: None,
                granted_on: None,
                expires_on: None,
            }],
            transfer_modes: vec![TransferMode::Assignment],
            asking_price: Some(Money::cny(50_000_000)),
            keywords: vec!["锂电池".into()],
            discipline: "材料科学".into(),
            region: "北京".into(),
            contact: Contact { name: "王老师".into(), email: Some("tt@example.org".into()), phone: None },
        }
    }

    fn codes(content: &ListingContent) -> Vec<(String, &'static str)> {
        content.validate().unwrap_err().errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn a_complete_listing_is_valid() {
        valid().validate().unwrap();
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut c = valid();
        c.trl = 0;
        c.transfer_modes.clear();
        c.discipline = " ".into();
        let found = codes(&c);
        assert!(found.contains(&("trl".into(), "out_of_range")));
        assert!(found.contains(&("transfer_modes".into(), "required")));
        assert!(found.contains(&("discipline".into(), "required")));
    }

    #[test]
    fn languages_may_not_be_mixed_to_make_one_complete_text() {
        let mut c = valid();
        c.summary = LangText::en("A cathode material");
        assert_eq!(codes(&c), vec![("title".into(), "incomplete_language")]);
    }

    #[test]
    fn patent_kinds_need_a_patent() {
        let mut c = valid();
        c.patents.clear();
        assert_eq!(codes(&c), vec![("patents".into(), "required")]);
        c.kind = ListingKind::KnowHow;
        c.validate().unwrap();
    }

    #[test]
    fn zero_price_is_refused_but_negotiable_is_fine() {
        let mut c = valid();
        c.asking_price = Some(Money::cny(0));
        assert_eq!(codes(&c), vec![("asking_price.amount".into(), "out_of_range")]);
        c.asking_price = None;
        c.validate().unwrap();
    }

    #[test]
    fn oversize_title_is_refused_by_characters_not_bytes() {
        let mut c = valid();
        c.title = LangText::zh("锂".repeat(TITLE_MAX));
        c.validate().unwrap();
        c.title = LangText::zh("锂".repeat(TITLE_MAX + 1));
        assert_eq!(codes(&c), vec![("title.zh".into(), "too_long")]);
    }

    #[test]
    fn lapsed_patents_fail_screening() {
        let mut c = valid();
        c.patents[0].legal_status = PatentLegalStatus::Lapsed;
        assert_eq!(c.screening_issues()[0].code, "no_patent_in_force");
    }

    #[test]
    fn contact_needs_a_way_to_reach_someone() {
        let mut c = valid();
        c.contact.email = None;
        assert_eq!(codes(&c), vec![("contact".into(), "required")]);
        c.contact.phone = Some("+86 10 6255 1234".into());
        c.validate().unwrap();
    }
}
