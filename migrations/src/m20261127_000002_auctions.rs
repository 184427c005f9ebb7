//! Auctions: the lot records, their append-only hash-chained command log, idempotency records and
//! the deals that sales create.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Auctions {
    Table,
    Id,
    ListingId,
    SellerOrg,
    CreatedBy,
    Format,
    Config,
    Status,
    StartsAt,
    EndsAt,
    Summary,
    Outcome,
    LastIndex,
    LastHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuctionLog {
    Table,
    AuctionId,
    Idx,
    At,
    Command,
    Events,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuctionIdempotency {
    Table,
    AuctionId,
    Key,
    Fingerprint,
    Response,
}

#[derive(DeriveIden)]
enum Deals {
    Table,
    Id,
    AuctionId,
    ListingId,
    SellerOrg,
    BuyerUser,
    BuyerOrg,
    PriceAmount,
    Currency,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Listings {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Auctions::Table)
                    .col(pk_uuid(Auctions::Id))
                    .col(uuid(Auctions::ListingId))
                    .col(uuid(Auctions::SellerOrg))
                    .col(uuid(Auctions::CreatedBy))
                    .col(string_len(Auctions::Format, 30))
                    .col(json(Auctions::Config))
                    .col(string_len(Auctions::Status, 20))
                    .col(timestamp_with_time_zone(Auctions::StartsAt))
                    .col(timestamp_with_time_zone(Auctions::EndsAt))
                    .col(json(Auctions::Summary))
                    .col(json_null(Auctions::Outcome))
                    .col(big_integer(Auctions::LastIndex))
                    .col(string_len(Auctions::LastHash, 64))
                    .col(timestamp_with_time_zone(Auctions::CreatedAt))
                    .col(timestamp_with_time_zone(Auctions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Auctions::Table, Auctions::ListingId)
                            .to(Listings::Table, Listings::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("auctions_by_status")
                    .table(Auctions::Table)
                    .col(Auctions::Status)
                    .col(Auctions::EndsAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("auctions_by_listing").table(Auctions::Table).col(Auctions::ListingId).to_owned(),
            )
            .await?;

        // The primary key (auction_id, idx) is what makes two writers unable to both append the
        // same position: the loser's transaction fails and it rebuilds from the log.
        manager
            .create_table(
                Table::create()
                    .table(AuctionLog::Table)
                    .col(uuid(AuctionLog::AuctionId))
                    .col(big_integer(AuctionLog::Idx))
                    .col(timestamp_with_time_zone(AuctionLog::At))
                    .col(json(AuctionLog::Command))
                    .col(json(AuctionLog::Events))
                    .col(string_len(AuctionLog::PrevHash, 64))
                    .col(string_len(AuctionLog::Hash, 64))
                    .primary_key(Index::create().col(AuctionLog::AuctionId).col(AuctionLog::Idx))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuctionLog::Table, AuctionLog::AuctionId)
                            .to(Auctions::Table, Auctions::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuctionIdempotency::Table)
                    .col(uuid(AuctionIdempotency::AuctionId))
                    .col(string_len(AuctionIdempotency::Key, 200))
                    .col(string_len(AuctionIdempotency::Fingerprint, 64))
                    .col(json(AuctionIdempotency::Response))
                    .primary_key(Index::create().col(AuctionIdempotency::AuctionId).col(AuctionIdempotency::Key))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deals::Table)
                    .col(pk_uuid(Deals::Id))
                    .col(uuid(Deals::AuctionId))
                    .col(uuid(Deals::ListingId))
                    .col(uuid(Deals::SellerOrg))
                    .col(uuid(Deals::BuyerUser))
                    .col(uuid(Deals::BuyerOrg))
                    .col(big_integer(Deals::PriceAmount))
                    .col(string_len(Deals::Currency, 3))
                    .col(string_len(Deals::Status, 20))
                    .col(timestamp_with_time_zone(Deals::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("deals_by_auction").table(Deals::Table).col(Deals::AuctionId).to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Deals::Table.into_iden(),
            AuctionIdempotency::Table.into_iden(),
            AuctionLog::Table.into_iden(),
            Auctions::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
