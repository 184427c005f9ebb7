//! Typed ids. Each aggregate has its own newtype so a listing id can never be passed where a user
//! id is expected. They are UUIDv7: unguessable enough for public URLs, and time-ordered so the
//! primary key doubles as a stable pagination cursor.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// An organisation: a research institute, an enterprise, an organizer or the platform itself.
    OrganizationId
);
id_type!(
    /// A listed achievement.
    ListingId
);
id_type!(
    /// An uploaded file attached to a listing.
    AttachmentId
);
id_type!(
    /// One auction (lot) of a listing.
    AuctionId
);
id_type!(
    /// A completed sale or licence.
    DealId
);
id_type!(
    /// A search a user saved, optionally with alerts.
    SavedSearchId
);
id_type!(
    /// One notification to one user (an inbox entry).
    NotificationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = ListingId::new();
        assert_eq!(id.to_string().parse::<ListingId>().unwrap(), id);
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b);
    }
}
