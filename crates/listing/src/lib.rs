//! The listing aggregate: what an institute publishes about one achievement, the rules its fields
//! must satisfy, and the review lifecycle it moves through.
//!
//! Pure domain code: no I/O, no framework. The store persists [`Listing`]s and the API maps the
//! errors here onto HTTP, but every rule about what a valid listing is or which status change is
//! allowed lives in this crate, so it is tested once and cannot be bypassed by a second code path.

pub mod aggregate;
pub mod content;
pub mod ipc;
pub mod lifecycle;
pub mod validation;

pub use aggregate::{AuditAction, AuditEntry, Listing};
pub use content::{Contact, ListingContent, ListingKind, ListingPatch, Patent, PatentLegalStatus, TransferMode};
pub use lifecycle::{Action, LifecycleError, ListingStatus};
pub use validation::{FieldError, ValidationErrors};
