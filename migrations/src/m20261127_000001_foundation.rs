//! Organisations, users, refresh tokens, listings with their audit trail, and attachments.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    Kind,
    Verified,
    VerifiedAt,
    VerifiedBy,
    InviteCode,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrganizationId,
    Email,
    DisplayName,
    PasswordHash,
    Role,
    Language,
    Disabled,
    DeletedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    IssuedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Listings {
    Table,
    Id,
    InstituteId,
    CreatedBy,
    Status,
    Kind,
    Discipline,
    Region,
    Trl,
    AskingAmount,
    AskingCurrency,
    Content,
    RejectionReason,
    Version,
    CreatedAt,
    UpdatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum ListingEvents {
    Table,
    Id,
    ListingId,
    ActorId,
    Action,
    FromStatus,
    ToStatus,
    Changes,
    Reason,
    At,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    ListingId,
    Sha256,
    FileName,
    Size,
    ContentType,
    UploadedBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(pk_uuid(Organizations::Id))
                    .col(string_len(Organizations::Name, 200))
                    .col(string_len(Organizations::Kind, 20))
                    .col(boolean(Organizations::Verified).default(false))
                    .col(timestamp_with_time_zone_null(Organizations::VerifiedAt))
                    .col(uuid_null(Organizations::VerifiedBy))
                    .col(string_len_uniq(Organizations::InviteCode, 64))
                    .col(timestamp_with_time_zone(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::OrganizationId))
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len(Users::DisplayName, 100))
                    .col(string_len(Users::PasswordHash, 200))
                    .col(string_len(Users::Role, 30))
                    .col(string_len(Users::Language, 5))
                    .col(boolean(Users::Disabled).default(false))
                    .col(timestamp_with_time_zone_null(Users::DeletedAt))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::OrganizationId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("users_by_organization").table(Users::Table).col(Users::OrganizationId).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(pk_uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::UserId))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(string_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(timestamp_with_time_zone(RefreshTokens::IssuedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_tokens_by_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Listings::Table)
                    .col(pk_uuid(Listings::Id))
                    .col(uuid(Listings::InstituteId))
                    .col(uuid(Listings::CreatedBy))
                    .col(string_len(Listings::Status, 20))
                    .col(string_len(Listings::Kind, 30))
                    .col(string_len(Listings::Discipline, 100))
                    .col(string_len(Listings::Region, 100))
                    .col(small_integer(Listings::Trl))
                    .col(big_integer_null(Listings::AskingAmount))
                    .col(string_len_null(Listings::AskingCurrency, 3))
                    .col(json(Listings::Content))
                    .col(text_null(Listings::RejectionReason))
                    .col(big_integer(Listings::Version))
                    .col(timestamp_with_time_zone(Listings::CreatedAt))
                    .col(timestamp_with_time_zone(Listings::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Listings::PublishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Listings::Table, Listings::InstituteId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The public catalogue pages newest-published first; the seek cursor is (published_at, id).
        manager
            .create_index(
                Index::create()
                    .name("listings_public_feed")
                    .table(Listings::Table)
                    .col(Listings::Status)
                    .col(Listings::PublishedAt)
                    .col(Listings::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("listings_by_institute")
                    .table(Listings::Table)
                    .col(Listings::InstituteId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ListingEvents::Table)
                    .col(pk_uuid(ListingEvents::Id))
                    .col(uuid(ListingEvents::ListingId))
                    .col(uuid_null(ListingEvents::ActorId))
                    .col(string_len(ListingEvents::Action, 30))
                    .col(string_len_null(ListingEvents::FromStatus, 20))
                    .col(string_len(ListingEvents::ToStatus, 20))
                    .col(json(ListingEvents::Changes))
                    .col(text_null(ListingEvents::Reason))
                    .col(timestamp_with_time_zone(ListingEvents::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ListingEvents::Table, ListingEvents::ListingId)
                            .to(Listings::Table, Listings::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("listing_events_by_listing")
                    .table(ListingEvents::Table)
                    .col(ListingEvents::ListingId)
                    .col(ListingEvents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .col(pk_uuid(Attachments::Id))
                    .col(uuid(Attachments::ListingId))
                    .col(string_len(Attachments::Sha256, 64))
                    .col(string_len(Attachments::FileName, 255))
                    .col(big_integer(Attachments::Size))
                    .col(string_len(Attachments::ContentType, 100))
                    .col(uuid(Attachments::UploadedBy))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Attachments::Table, Attachments::ListingId)
                            .to(Listings::Table, Listings::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("attachments_by_listing")
                    .table(Attachments::Table)
                    .col(Attachments::ListingId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Attachments::Table.into_iden(),
            ListingEvents::Table.into_iden(),
            Listings::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
