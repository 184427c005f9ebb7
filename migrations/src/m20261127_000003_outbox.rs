//! The transactional outbox and what consumes it: the search index's position, saved searches,
//! and the notification inbox, e-mail deliveries, preferences and auction watchers.
//!
//! A domain change writes its outbox row in the same transaction as the change, so a consumer can
//! never miss a committed change nor see one that rolled back.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    EventId,
    Topic,
    Kind,
    SubjectId,
    Payload,
    CreatedAt,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum OutboxConsumers {
    Table,
    Consumer,
    Position,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SavedSearches {
    Table,
    Id,
    UserId,
    Name,
    Query,
    Alert,
    CreatedAt,
    LastAlertedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    EventId,
    UserId,
    Kind,
    Payload,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum NotificationDeliveries {
    Table,
    NotificationId,
    Channel,
    UserId,
    Status,
    Attempts,
    NextAttemptAt,
    ClaimedUntil,
    LastError,
    SentAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuctionWatchers {
    Table,
    AuctionId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum NotificationPreferences {
    Table,
    UserId,
    Preferences,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `id` orders the outbox. Writers of ordered topics serialise their commits (see the
        // store), so on both databases ids become visible in increasing order and a consumer
        // can keep a single position.
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(uuid_uniq(Outbox::EventId))
                    .col(string_len(Outbox::Topic, 20))
                    .col(string_len(Outbox::Kind, 40))
                    .col(uuid(Outbox::SubjectId))
                    .col(json(Outbox::Payload))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::ProcessedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_by_topic")
                    .table(Outbox::Table)
                    .col(Outbox::Topic)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;
        // Saved-search alerts ask what changed about public listings since a moment.
        manager
            .create_index(
                Index::create()
                    .name("outbox_by_kind_and_time")
                    .table(Outbox::Table)
                    .col(Outbox::Topic)
                    .col(Outbox::Kind)
                    .col(Outbox::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("outbox_unprocessed")
                    .table(Outbox::Table)
                    .col(Outbox::ProcessedAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OutboxConsumers::Table)
                    .col(string_len(OutboxConsumers::Consumer, 100).primary_key())
                    .col(big_integer(OutboxConsumers::Position))
                    .col(timestamp_with_time_zone(OutboxConsumers::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SavedSearches::Table)
                    .col(pk_uuid(SavedSearches::Id))
                    .col(uuid(SavedSearches::UserId))
                    .col(string_len(SavedSearches::Name, 200))
                    .col(json(SavedSearches::Query))
                    .col(string_len(SavedSearches::Alert, 20))
                    .col(timestamp_with_time_zone(SavedSearches::CreatedAt))
                    .col(timestamp_with_time_zone_null(SavedSearches::LastAlertedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saved_searches_by_user")
                    .table(SavedSearches::Table)
                    .col(SavedSearches::UserId)
                    .col(SavedSearches::CreatedAt)
                    .to_owned(),
            )
            .await?;

        // One inbox row per (event, user): the unique key is what makes the fan-out idempotent.
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::EventId))
                    .col(uuid(Notifications::UserId))
                    .col(string_len(Notifications::Kind, 40))
                    .col(json(Notifications::Payload))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_once_per_user")
                    .table(Notifications::Table)
                    .col(Notifications::EventId)
                    .col(Notifications::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notifications_inbox")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationDeliveries::Table)
                    .col(uuid(NotificationDeliveries::NotificationId))
                    .col(string_len(NotificationDeliveries::Channel, 20))
                    .col(uuid(NotificationDeliveries::UserId))
                    .col(string_len(NotificationDeliveries::Status, 20))
                    .col(integer(NotificationDeliveries::Attempts))
                    .col(timestamp_with_time_zone(NotificationDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(NotificationDeliveries::ClaimedUntil))
                    .col(text_null(NotificationDeliveries::LastError))
                    .col(timestamp_with_time_zone_null(NotificationDeliveries::SentAt))
                    .col(timestamp_with_time_zone(NotificationDeliveries::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(NotificationDeliveries::NotificationId)
                            .col(NotificationDeliveries::Channel),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("deliveries_due")
                    .table(NotificationDeliveries::Table)
                    .col(NotificationDeliveries::Status)
                    .col(NotificationDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;

        // People who asked to hear about a lot without registering to bid.
        manager
            .create_table(
                Table::create()
                    .table(AuctionWatchers::Table)
                    .col(uuid(AuctionWatchers::AuctionId))
                    .col(uuid(AuctionWatchers::UserId))
                    .col(timestamp_with_time_zone(AuctionWatchers::CreatedAt))
                    .primary_key(Index::create().col(AuctionWatchers::AuctionId).col(AuctionWatchers::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("watchers_by_user")
                    .table(AuctionWatchers::Table)
                    .col(AuctionWatchers::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(NotificationPreferences::Table)
                    .col(pk_uuid(NotificationPreferences::UserId))
                    .col(json(NotificationPreferences::Preferences))
                    .col(timestamp_with_time_zone(NotificationPreferences::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            NotificationPreferences::Table.into_iden(),
            AuctionWatchers::Table.into_iden(),
            NotificationDeliveries::Table.into_iden(),
            Notifications::Table.into_iden(),
            SavedSearches::Table.into_iden(),
            OutboxConsumers::Table.into_iden(),
            Outbox::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
