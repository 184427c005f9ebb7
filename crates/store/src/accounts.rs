//! Organisations and their users.

use crate::connection::Store;
use crate::entity::{organization, user};
use crate::error::StoreError;
use achex_core::{Lang, OrganizationId, OrganizationKind, Role, UserId};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub kind: OrganizationKind,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    /// Shared with colleagues so they can join this organisation when they register.
    pub invite_code: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub kind: OrganizationKind,
    pub invite_code: String,
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: Role,
    pub language: Lang,
    pub disabled: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// Disabled and deleted users can neither sign in nor use tokens issued before.
    pub fn is_active(&self) -> bool {
        !self.disabled && self.deleted_at.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: Role,
    pub language: Lang,
}

impl TryFrom<organization::Model> for Organization {
    type Error = StoreError;
    fn try_from(m: organization::Model) -> Result<Self, StoreError> {
        Ok(Organization {
            id: m.id.into(),
            kind: OrganizationKind::parse(&m.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("organization kind {:?}", m.kind)))?,
            name: m.name,
            verified: m.verified,
            verified_at: m.verified_at,
            invite_code: m.invite_code,
            created_at: m.created_at,
        })
    }
}

impl TryFrom<user::Model> for User {
    type Error = StoreError;
    fn try_from(m: user::Model) -> Result<Self, StoreError> {
        Ok(User {
            id: m.id.into(),
            organization_id: m.organization_id.into(),
            role: Role::parse(&m.role).ok_or_else(|| StoreError::Corrupt(format!("role {:?}", m.role)))?,
            language: if m.language == "en" { Lang::En } else { Lang::Zh },
            email: m.email,
            display_name: m.display_name,
            password_hash: m.password_hash,
            disabled: m.disabled,
            deleted_at: m.deleted_at,
            created_at: m.created_at,
        })
    }
}

fn user_row(organization_id: OrganizationId, new: NewUser, now: DateTime<Utc>) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(UserId::new().as_uuid()),
        organization_id: Set(organization_id.as_uuid()),
        email: Set(new.email.to_lowercase()),
        display_name: Set(new.display_name),
        password_hash: Set(new.password_hash),
        role: Set(new.role.as_str().to_owned()),
        language: Set(new.language.code().to_owned()),
        disabled: Set(false),
        deleted_at: Set(None),
        created_at: Set(now),
    }
}

impl Store {
    /// Creates an organisation and its first member in one transaction: a failed user insert
    /// (say, a taken e-mail) leaves no orphan organisation behind.
    pub async fn create_organization_with_user(
        &self,
        org: NewOrganization,
        new_user: NewUser,
        now: DateTime<Utc>,
    ) -> Result<(Organization, User), StoreError> {
        let tx = self.write().await?;
        let org_id = OrganizationId::new();
        let org_model = organization::ActiveModel {
            id: Set(org_id.as_uuid()),
            name: Set(org.name),
            kind: Set(org.kind.as_str().to_owned()),
            verified: Set(org.verified),
            verified_at: Set(org.verified.then_some(now)),
            verified_by: Set(None),
            invite_code: Set(org.invite_code),
            created_at: Set(now),
        }
        .insert(&tx)
        .await
        .map_err(|e| StoreError::unique(e, "organization"))?;
        let user_model =
            user_row(org_id, new_user, now).insert(&tx).await.map_err(|e| StoreError::unique(e, "email"))?;
        tx.commit().await?;
        Ok((org_model.try_into()?, user_model.try_into()?))
    }

    /// Adds a user to an existing organisation.
    pub async fn create_user(
        &self,
        organization_id: OrganizationId,
        new_user: NewUser,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let tx = self.write().await?;
        let model =
            user_row(organization_id, new_user, now).insert(&tx).await.map_err(|e| StoreError::unique(e, "email"))?;
        tx.commit().await?;
        model.try_into()
    }

    pub async fn organization(&self, id: OrganizationId) -> Result<Organization, StoreError> {
        organization::Entity::find_by_id(id.as_uuid()).one(&self.db).await?.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Several organisations at once (to label a page of listings with their institutes).
    pub async fn organizations(
        &self,
        ids: &[OrganizationId],
    ) -> Result<std::collections::HashMap<OrganizationId, Organization>, StoreError> {
        let uuids: Vec<uuid::Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
        organization::Entity::find()
            .filter(organization::Column::Id.is_in(uuids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| Organization::try_from(m).map(|o| (o.id, o)))
            .collect()
    }

    pub async fn organization_by_invite_code(&self, code: &str) -> Result<Organization, StoreError> {
        organization::Entity::find()
            .filter(organization::Column::InviteCode.eq(code))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// The platform organisation that reviewers and admins belong to, created on first use.
    pub async fn platform_organization(&self, now: DateTime<Utc>) -> Result<Organization, StoreError> {
        let existing = organization::Entity::find()
            .filter(organization::Column::Kind.eq(OrganizationKind::Platform.as_str()))
            .one(&self.db)
            .await?;
        if let Some(model) = existing {
            return model.try_into();
        }
        let tx = self.write().await?;
        let model = organization::ActiveModel {
            id: Set(OrganizationId::new().as_uuid()),
            name: Set("achex platform".to_owned()),
            kind: Set(OrganizationKind::Platform.as_str().to_owned()),
            verified: Set(true),
            verified_at: Set(Some(now)),
            verified_by: Set(None),
            invite_code: Set(format!("platform-{}", uuid::Uuid::now_v7().simple())),
            created_at: Set(now),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        model.try_into()
    }

    pub async fn verify_organization(
        &self,
        id: OrganizationId,
        by: UserId,
        now: DateTime<Utc>,
    ) -> Result<Organization, StoreError> {
        let tx = self.write().await?;
        let model = organization::Entity::find_by_id(id.as_uuid()).one(&tx).await?.ok_or(StoreError::NotFound)?;
        let model = if model.verified {
            model
        } else {
            let mut active: organization::ActiveModel = model.into();
            active.verified = Set(true);
            active.verified_at = Set(Some(now));
            active.verified_by = Set(Some(by.as_uuid()));
            active.update(&tx).await?
        };
        tx.commit().await?;
        model.try_into()
    }

    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        user::Entity::find_by_id(id.as_uuid()).one(&self.db).await?.ok_or(StoreError::NotFound)?.try_into()
    }

    pub async fn user_by_email(&self, email: &str) -> Result<User, StoreError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.to_lowercase()))
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    pub async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let model = user::Entity::find_by_id(id.as_uuid()).one(&tx).await?.ok_or(StoreError::NotFound)?;
        let mut active: user::ActiveModel = model.into();
        active.disabled = Set(disabled);
        active.update(&tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Soft-deletes a user: the row stays for the audit trail, sign-in and tokens stop working.
    pub async fn delete_user(&self, id: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let model = user::Entity::find_by_id(id.as_uuid()).one(&tx).await?.ok_or(StoreError::NotFound)?;
        let mut active: user::ActiveModel = model.into();
        active.deleted_at = Set(Some(now));
        active.update(&tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a user's password hash (used by `achex admin create` on an existing account).
    pub async fn set_password_hash(&self, id: UserId, hash: String, role: Role) -> Result<(), StoreError> {
        let tx = self.write().await?;
        let model = user::Entity::find_by_id(id.as_uuid()).one(&tx).await?.ok_or(StoreError::NotFound)?;
        let mut active: user::ActiveModel = model.into();
        active.password_hash = Set(hash);
        active.role = Set(role.as_str().to_owned());
        active.disabled = Set(false);
        active.deleted_at = Set(None);
        active.update(&tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
