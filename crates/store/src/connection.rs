use crate::error::StoreError;
use crate::sqlite_reader::SqliteReaders;
use achex_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// The durability settings the database reports, checked at start-up: a kill test alone cannot
/// prove that commits reach the disk, so the server refuses to start without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    pub backend: &'static str,
    /// SQLite `journal_mode` (expected `wal`); `None` on PostgreSQL.
    pub journal_mode: Option<String>,
    /// SQLite `synchronous` (2 = FULL) or PostgreSQL `synchronous_commit` (expected `on`).
    pub synchronous: String,
}

impl Durability {
    pub fn is_durable(&self) -> bool {
        match self.backend {
            "sqlite" => self.journal_mode.as_deref() == Some("wal") && self.synchronous == "2",
            _ => matches!(self.synchronous.as_str(), "on" | "remote_apply" | "remote_write"),
        }
    }
}

/// The addresses of the PostgreSQL server `url` names over TCP (`None` for SQLite, a Unix socket,
/// or a name that does not resolve: the connection itself then reports the problem).
async fn postgres_server_addresses(url: &str) -> Option<Vec<std::net::SocketAddr>> {
    use std::str::FromStr;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    let options = sea_orm::sqlx::postgres::PgConnectOptions::from_str(url).ok()?;
    let host = options.get_host().trim_matches(['[', ']']);
    if host.starts_with('/') || options.get_socket().is_some() {
        return None;
    }
    let addresses: Vec<_> = tokio::net::lookup_host((host, options.get_port())).await.ok()?.collect();
    (!addresses.is_empty()).then_some(addresses)
}

/// The database file a `sqlite:` URL names; `None` for another database or one in memory (which
/// another connection could not see).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    if !url.starts_with("sqlite:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    let name = path.to_string_lossy();
    // sqlx names an in-memory database `file:sqlx-in-memory-…`; an empty name is a temporary file.
    (!name.is_empty() && !name.starts_with("file:")).then(|| path.to_owned())
}

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// Bumped after every commit that wrote to the outbox, so this process's consumers wake at
    /// once instead of polling. Other processes' commits are found by the consumers' slow poll.
    pub(crate) outbox_written: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// On SQLite, read-only connections for the search path's one read (see `sqlite_reader`).
    pub(crate) sqlite_readers: Option<std::sync::Arc<SqliteReaders>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`) with durable settings.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            // sqlx pings every connection it hands out by default: a round trip before each
            // transaction (on SQLite through the connection's worker thread), which was a tenth
            // of a hot lot's append. Only a connection idle long enough to have been dropped by
            // the server or a firewall is checked now; a broken one otherwise fails its statement
            // and the pool replaces it.
            .test_before_acquire_if_idle_for(Duration::from_secs(30))
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts: SqliteConnectOptions| {
                opts.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
                    // Reads through a memory map rather than a read() call per page: a page of
                    // search results looks up its hits' listings, and the syscalls and copies of
                    // those lookups were most of the SQLite worker's time in a profile. Writes
                    // still go through the WAL; the map only grows as far as the file.
                    .pragma("mmap_size", "268435456")
            });
        if let Some(peers) = postgres_server_addresses(url).await {
            // sqlx 0.9.0 leaves Nagle's algorithm on; see `nodelay`.
            options.map_sqlx_postgres_pool_opts(move |pool| {
                let peers = peers.clone();
                pool.after_connect(move |_connection, _meta| {
                    let peers = peers.clone();
                    Box::pin(async move {
                        crate::nodelay::set_on_connections_to(&peers);
                        Ok(())
                    })
                })
            });
        }
        let db = Database::connect(options).await?;
        let sqlite_readers = sqlite_file(url).map(|path| std::sync::Arc::new(SqliteReaders::new(path)));
        Ok(Store { db, outbox_written: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)), sqlite_readers })
    }

    /// This store with every read through the pool, as on PostgreSQL: the tests hold the
    /// SQLite reads made on the caller's thread (`sqlite_reader`) to the pool's answers with it.
    pub fn reading_through_the_pool_only(&self) -> Store {
        Store { sqlite_readers: None, ..self.clone() }
    }

    /// Reads made on the caller's thread beside the pool since the start (always 0 but on
    /// SQLite; see `sqlite_reader`).
    pub fn reads_beside_the_pool(&self) -> u64 {
        self.sqlite_readers.as_ref().map_or(0, |r| r.served())
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Number of migrations not yet applied (readiness fails while this is non-zero).
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.len())
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }

    pub async fn durability(&self) -> Result<Durability, StoreError> {
        let backend = self.backend();
        let query_one = |sql: &str| {
            let statement = Statement::from_string(backend, sql.to_owned());
            async move {
                let row = self.db.query_one_raw(statement).await?.ok_or(StoreError::NotFound)?;
                let value = row
                    .try_get_by_index::<String>(0)
                    .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))?;
                Ok::<_, StoreError>(value)
            }
        };
        match backend {
            DatabaseBackend::Sqlite => Ok(Durability {
                backend: "sqlite",
                journal_mode: Some(query_one("PRAGMA journal_mode").await?.to_lowercase()),
                synchronous: query_one("PRAGMA synchronous").await?,
            }),
            _ => Ok(Durability {
                backend: "postgres",
                journal_mode: None,
                synchronous: query_one("SHOW synchronous_commit").await?,
            }),
        }
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub(crate) async fn write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.db.begin_with_options(options).await?)
    }

    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await?;
        Ok(())
    }
}
