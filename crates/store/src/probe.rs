//! A measurement of the database itself: the cost of one durable one-row transaction. Benchmarks
//! print it beside the engine's figures, so a ratio says what group commit buys on this disk.

use crate::connection::Store;
use crate::error::StoreError;
use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};

/// One-row durable transactions into a scratch table, committed one at a time by the caller.
#[derive(Debug)]
pub struct CommitProbe {
    store: Store,
    next: u64,
}

impl CommitProbe {
    /// Commits one single-row transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn commit_one(&mut self) -> Result<(), StoreError> {
        let i = self.next;
        self.next += 1;
        let tx = self.store.write().await?;
        let sql = format!("INSERT INTO bench_commit_probe (id, payload) VALUES ({i}, 'bid {i}')");
        tx.execute_raw(sea_orm::Statement::from_string(self.store.backend(), sql)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops the scratch table.
    pub async fn finish(self) -> Result<(), StoreError> {
        self.store.db.execute_unprepared("DROP TABLE bench_commit_probe").await?;
        Ok(())
    }
}

impl Store {
    /// A fresh scratch table for [`CommitProbe::commit_one`].
    pub async fn commit_probe(&self) -> Result<CommitProbe, StoreError> {
        self.db
            .execute_unprepared(
                "CREATE TABLE IF NOT EXISTS bench_commit_probe (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)",
            )
            .await?;
        self.db.execute_unprepared("DELETE FROM bench_commit_probe").await?;
        Ok(CommitProbe { store: self.clone(), next: 0 })
    }

    /// Commits `rows` single-row transactions back to back and returns how long each took.
    pub async fn durable_commit_probe(&self, rows: usize) -> Result<Vec<Duration>, StoreError> {
        let mut probe = self.commit_probe().await?;
        let mut times = Vec::with_capacity(rows);
        for _ in 0..rows {
            let started = Instant::now();
            probe.commit_one().await?;
            times.push(started.elapsed());
        }
        probe.finish().await?;
        Ok(times)
    }
}
