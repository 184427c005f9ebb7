//! The shared vocabulary of achex.
//!
//! Everything here is plain data and rules that every other crate agrees on: typed ids, exact
//! money, the server's clock and bilingual text. It depends on no framework or database so the
//! domain crates above it stay pure.

pub mod accounts;
pub mod clock;
pub mod ids;
pub mod money;
pub mod text;

pub use accounts::{OrganizationKind, Role};
pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{AttachmentId, AuctionId, DealId, ListingId, NotificationId, OrganizationId, SavedSearchId, UserId};
pub use money::{Currency, Money, MoneyError};
pub use text::{Lang, LangText};
