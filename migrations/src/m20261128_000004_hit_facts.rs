//! A covering index for the facts a page of search hits needs from the listings table.
//!
//! Every search reads, for each of its up to 100 hits, the listing's status and institute by id.
//! A listing's row carries its whole content (several KiB, spilling onto overflow pages), so on
//! SQLite each lookup went from the primary-key index to a table page of its own: in a profile of
//! bench-search that was most of the database's share of a query. With `(id, status,
//! institute_id)` in one index, the lookups stay in densely packed index pages and never touch the
//! rows; PostgreSQL can answer the same query from the index alone too.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Listings {
    Table,
    Id,
    Status,
    InstituteId,
}

const NAME: &str = "listings_hit_facts";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Listings::Table)
                    .col(Listings::Id)
                    .col(Listings::Status)
                    .col(Listings::InstituteId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(NAME).table(Listings::Table).to_owned()).await
    }
}
