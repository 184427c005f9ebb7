//! Many rows in one: a query whose rows the database aggregates into one JSON array.
//!
//! On SQLite the driver runs each connection on a worker thread and sends every row back as its
//! own message, each waking the waiting task; for a query about tens or hundreds of ids those
//! wake-ups cost more than the SQL (see BENCHMARKS.md, search and notifications).

use crate::{Store, StoreError};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

impl Store {
    /// Rows about `ids`, which the database aggregates into one JSON array per chunk of 500 ids:
    /// one query and one row back per chunk (see `Store::public_hit_facts` for why). `columns`
    /// are each row's expressions on (PostgreSQL, SQLite), where ids are hex (SQLite keeps them
    /// as blobs); `from_where` is what stands between `FROM` and the ids' `IN` list, on each.
    pub(crate) async fn json_rows_for_ids<T: serde::de::DeserializeOwned>(
        &self,
        ids: &[Uuid],
        columns: (&str, &str),
        from_where: (&str, &str),
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        let backend = self.backend();
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let (aggregate, placeholders) = match backend {
                sea_orm::DatabaseBackend::Postgres => (
                    format!("json_agg(json_build_array({}))::text", columns.0),
                    (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "),
                ),
                _ => (format!("json_group_array(json_array({}))", columns.1), vec!["?"; chunk.len()].join(", ")),
            };
            let from_where = if backend == sea_orm::DatabaseBackend::Postgres { from_where.0 } else { from_where.1 };
            let sql = format!("SELECT {aggregate} AS aggregated FROM {from_where} IN ({placeholders})");
            let values: Vec<sea_orm::Value> = chunk.iter().map(|id| (*id).into()).collect();
            let row = self.db.query_one_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values)).await?;
            let Some(json) = row.map(|r| r.try_get::<Option<String>>("", "aggregated")).transpose()?.flatten() else {
                continue;
            };
            let rows: Vec<T> = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?;
            found.extend(rows);
        }
        Ok(found)
    }
}
