//! A measurement of the database itself: the cost of one durable one-row transaction. Benchmarks
//! print it beside the engine's figures, so a ratio says what group commit buys on this disk.

use crate::connection::Store;
use crate::error::StoreError;
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};

impl Store {
    /// Commits `rows` single-row transactions (each `BEGIN IMMEDIATE` on SQLite) into a scratch
    /// table and returns how long each commit took.
    pub async fn durable_commit_probe(&self, rows: usize) -> Result<Vec<Duration>, StoreError> {
        let backend = self.backend();
        self.db
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS bench_commit_probe (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)",
            )
            .await?;
        self.db.execute_unprepared("DELETE FROM bench_commit_probe").await?;
        let mut times = Vec::with_capacity(rows);
        for i in 0..rows {
            let started = Instant::now();
            let tx = self.write().await?;
            let sql = format!("INSERT INTO bench_commit_probe (id, payload) VALUES ({i}, 'bid {i}')");
            tx.execute_raw(sea_orm::Statement::from_string(backend, sql)).await?;
            tx.commit().await?;
            times.push(started.elapsed());
        }
        self.db.execute_unprepared("DROP TABLE bench_commit_probe").await?;
        Ok(times)
    }
}
