//! The fields of a listing and the patch that edits them.

use achex_core::{LangText, Money};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// What kind of achievement is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListingKind {
    InventionPatent,
    UtilityModel,
    SoftwareCopyright,
    KnowHow,
    NewPlantVariety,
    IcLayout,
    Other,
}

impl ListingKind {
    pub const ALL: [ListingKind; 7] = [
        ListingKind::InventionPatent,
        ListingKind::UtilityModel,
        ListingKind::SoftwareCopyright,
        ListingKind::KnowHow,
        ListingKind::NewPlantVariety,
        ListingKind::IcLayout,
        ListingKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ListingKind::InventionPatent => "invention_patent",
            ListingKind::UtilityModel => "utility_model",
            ListingKind::SoftwareCopyright => "software_copyright",
            ListingKind::KnowHow => "know_how",
            ListingKind::NewPlantVariety => "new_plant_variety",
            ListingKind::IcLayout => "ic_layout",
            ListingKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds whose value rests on a patent: they must name at least one.
    pub fn requires_patent(self) -> bool {
        matches!(self, ListingKind::InventionPatent | ListingKind::UtilityModel)
    }
}

/// How the rights may change hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    Assignment,
    ExclusiveLicense,
    NonExclusiveLicense,
    Equity,
    JointDevelopment,
}

impl TransferMode {
    pub const ALL: [TransferMode; 5] = [
        TransferMode::Assignment,
        TransferMode::ExclusiveLicense,
        TransferMode::NonExclusiveLicense,
        TransferMode::Equity,
        TransferMode::JointDevelopment,
    ];
}

/// The legal status of a patent as recorded by the patent office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatentLegalStatus {
    /// Filed, under examination.
    Pending,
    /// Granted and in force.
    Granted,
    /// Lapsed, e.g. for unpaid annuities.
    Lapsed,
    /// Reached the end of its term.
    Expired,
    /// Declared invalid.
    Invalidated,
}

impl PatentLegalStatus {
    /// Whether the patent can still be transferred or licensed.
    pub fn is_live(self) -> bool {
        matches!(self, PatentLegalStatus::Pending | PatentLegalStatus::Granted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Patent {
    /// Publication or application number, e.g. `CN114512345A` or `ZL202110012345.6`.
    pub number: String,
    pub legal_status: PatentLegalStatus,
    #[serde(default)]
    pub filed_on: Option<NaiveDate>,
    #[serde(default)]
    pub granted_on: Option<NaiveDate>,
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
}

/// Who answers questions about the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// Everything the owning institute writes about an achievement. Status, owner and institute are
/// deliberately not here: they are set by the lifecycle and by who is signed in, never by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingContent {
    pub title: LangText,
    pub summary: LangText,
    pub description: LangText,
    pub kind: ListingKind,
    /// Technology readiness level, 1 (basic principles) to 9 (proven in operation).
    pub trl: u8,
    #[serde(default)]
    pub ipc_classes: Vec<String>,
    #[serde(default)]
    pub patents: Vec<Patent>,
    pub transfer_modes: Vec<TransferMode>,
    /// `null` means the price is negotiable.
    #[serde(default)]
    pub asking_price: Option<Money>,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub discipline: String,
    pub region: String,
    pub contact: Contact,
}

/// A partial update: absent fields stay as they are. `asking_price: null` makes the price
/// negotiable, which is why it is an `Option<Option<_>>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListingPatch {
    pub title: Option<LangText>,
    pub summary: Option<LangText>,
    pub description: Option<LangText>,
    pub kind: Option<ListingKind>,
    pub trl: Option<u8>,
    pub ipc_classes: Option<Vec<String>>,
    pub patents: Option<Vec<Patent>>,
    pub transfer_modes: Option<Vec<TransferMode>>,
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<Money>)]
    pub asking_price: Option<Option<Money>>,
    pub keywords: Option<Vec<String>>,
    pub discipline: Option<String>,
    pub region: Option<String>,
    pub contact: Option<Contact>,
}

/// Distinguishes `"field": null` (Some(None)) from an absent field (None, via `default`).
fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ListingPatch {
    pub fn is_empty(&self) -> bool {
        *self == ListingPatch::default()
    }

    /// The content after this patch, and the names of the fields whose value changed.
    pub fn apply_to(self, base: &ListingContent) -> (ListingContent, Vec<&'static str>) {
        let mut next = base.clone();
        let mut changed = Vec::new();
        macro_rules! merge {
            ($($field:ident),*) => {$(
                if let Some(value) = self.$field {
                    if next.$field != value {
                        changed.push(stringify!($field));
                    }
                    next.$field = value;
                }
            )*};
        }
        merge!(
            title,
            summary,
            description,
            kind,
            trl,
            ipc_classes,
            patents,
            transfer_modes,
            asking_price,
            keywords,
            discipline,
            region,
            contact
        );
        (next, changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_distinguishes_null_price_from_absent_price() {
        let absent: ListingPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.asking_price, None);
        let null: ListingPatch = serde_json::from_str(r#"{"asking_price": null}"#).unwrap();
        assert_eq!(null.asking_price, Some(None));
    }

    #[test]
    fn patch_refuses_status_and_owner_fields() {
        for body in [r#"{"status":"published"}"#, r#"{"institute_id":"x"}"#, r#"{"owner":"x"}"#] {
            assert!(serde_json::from_str::<ListingPatch>(body).is_err(), "{body}");
        }
    }
}
