//! Who someone is on the platform: the kind of organisation they belong to and their role in it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationKind {
    /// A research institute that owns achievements and lists them.
    Institute,
    /// A company that searches, asks and buys.
    Enterprise,
    /// Runs matchmaking events.
    Organizer,
    /// The exchange itself: reviewers and admins belong here.
    Platform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    InstituteStaff,
    EnterpriseMember,
    Organizer,
    Reviewer,
    Admin,
}

macro_rules! str_enum {
    ($ty:ty { $($variant:path => $s:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($variant),)* _ => None }
            }
        }
    };
}

str_enum!(OrganizationKind {
    OrganizationKind::Institute => "institute",
    OrganizationKind::Enterprise => "enterprise",
    OrganizationKind::Organizer => "organizer",
    OrganizationKind::Platform => "platform",
});

str_enum!(Role {
    Role::InstituteStaff => "institute_staff",
    Role::EnterpriseMember => "enterprise_member",
    Role::Organizer => "organizer",
    Role::Reviewer => "reviewer",
    Role::Admin => "admin",
});

impl Role {
    /// The kind of organisation a member with this role belongs to.
    pub fn organization_kind(self) -> OrganizationKind {
        match self {
            Role::InstituteStaff => OrganizationKind::Institute,
            Role::EnterpriseMember => OrganizationKind::Enterprise,
            Role::Organizer => OrganizationKind::Organizer,
            Role::Reviewer | Role::Admin => OrganizationKind::Platform,
        }
    }

    /// Roles anyone may take by signing up; the platform roles are granted by an admin.
    pub fn is_self_service(self) -> bool {
        matches!(self, Role::InstituteStaff | Role::EnterpriseMember | Role::Organizer)
    }

    /// Platform staff who screen listings and verify organisations.
    pub fn can_review(self) -> bool {
        matches!(self, Role::Reviewer | Role::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_roles_cannot_be_self_assigned() {
        assert!(!Role::Reviewer.is_self_service());
        assert!(!Role::Admin.is_self_service());
        assert!(Role::InstituteStaff.is_self_service());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::InstituteStaff, Role::EnterpriseMember, Role::Organizer, Role::Reviewer, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }
}
