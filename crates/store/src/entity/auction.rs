use sea_orm::entity::prelude::*;

/// A lot. `summary`, `status`, `ends_at`, `outcome` and `last_*` are a cache of the log's effect,
/// rewritten in the same transaction as every append, for listing queries.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "auctions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub listing_id: Uuid,
    pub seller_org: Uuid,
    pub created_by: Uuid,
    pub format: String,
    pub config: Json,
    pub status: String,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub summary: Json,
    pub outcome: Option<Json>,
    pub last_index: i64,
    pub last_hash: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
