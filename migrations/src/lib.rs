//! The one migration tree of achex. Every migration is written with sea-query's schema builder so
//! the same code creates the schema on SQLite and on PostgreSQL. Migrations are expand/contract
//! only: a released migration is never edited, a column is added before code uses it and removed
//! only after no running version reads it.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_foundation;
mod m20261127_000002_auctions;
mod m20261127_000003_outbox;
mod m20261128_000004_hit_facts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_auctions::Migration),
            Box::new(m20261127_000003_outbox::Migration),
            Box::new(m20261128_000004_hit_facts::Migration),
        ]
    }
}
