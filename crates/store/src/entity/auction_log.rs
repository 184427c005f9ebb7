use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "auction_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub auction_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i64,
    pub at: DateTimeUtc,
    pub command: Json,
    pub events: Json,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
