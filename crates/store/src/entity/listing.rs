use sea_orm::entity::prelude::*;

/// The whole editable content is one JSON document (`content`); the columns beside it duplicate
/// the fields that are filtered or sorted on, so queries never parse JSON.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "listings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub institute_id: Uuid,
    pub created_by: Uuid,
    pub status: String,
    pub kind: String,
    pub discipline: String,
    pub region: String,
    pub trl: i16,
    pub asking_amount: Option<i64>,
    pub asking_currency: Option<String>,
    pub content: Json,
    pub rejection_reason: Option<String>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
