//! The search path's read on SQLite, made on the calling thread instead of the driver's.
//!
//! sqlx runs each SQLite connection on a worker thread of its own: a statement is a message to
//! that thread, and its answer a message back, each waking a thread. A page of search hits asks
//! one small question (`Store::public_hit_facts`: which of these 20 listings are public, by whom,
//! with which open lot), and in bench-search the hand-overs around it cost more than the SQL:
//! the facts took about a tenth of the search API's throughput, and here the same read takes
//! 0.12–0.17× the CPU (section 2d of bench-search).
//!
//! These connections are read-only, and each is used by one thread at a time for one statement.
//! In WAL mode a reader never waits for a writer (it reads the last commit), and the database file
//! is memory-mapped, so the statement is CPU work of tens of microseconds, like encoding the
//! response, which the request's thread also does itself. With a busy timeout of zero nothing
//! here ever sleeps: the rare `SQLITE_BUSY` of a reader (WAL recovery after a crash), or any other
//! failure, sends the caller back to the pool's path, which waits as every other query does.
//!
//! Every read is an implicit transaction begun at the statement, so it sees every commit made
//! before it, through any connection of any process: the facts are as fresh as through sqlx.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Connections kept between reads; more are opened when more threads read at once.
const MAX_IDLE: usize = 8;

/// Read-only connections to one SQLite database file, lent to one thread at a time.
pub(crate) struct SqliteReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Reads that succeeded here (the rest went through the pool).
    served: AtomicU64,
}

impl std::fmt::Debug for SqliteReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteReaders").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteReaders {
    pub(crate) fn new(path: PathBuf) -> SqliteReaders {
        SqliteReaders { path, idle: Mutex::new(Vec::new()), served: AtomicU64::new(0) }
    }

    /// Runs `read` on an idle connection (or a new one) on this thread. A connection whose read
    /// failed is closed rather than kept, so a broken one never serves twice.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = read(&connection);
        if result.is_ok() {
            self.served.fetch_add(1, Ordering::Relaxed);
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
        result
    }

    /// How many reads succeeded here since the start.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // No mutex of SQLite's own: a connection is only ever used by the thread that took it.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        connection.busy_timeout(Duration::ZERO)?;
        // As the pool's connections: pages are read through a memory map, not a read() each.
        connection.pragma_update(None, "mmap_size", 268_435_456_i64)?;
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &std::path::Path) -> PathBuf {
        let path = dir.join("readers.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")
            .expect("schema");
        path
    }

    #[test]
    fn a_read_sees_what_another_connection_committed_before_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = database(dir.path());
        let readers = SqliteReaders::new(path.clone());
        let count = || readers.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)));
        assert_eq!(count().expect("read"), 1);
        Connection::open(&path).expect("writer").execute("INSERT INTO t VALUES (2)", []).expect("insert");
        assert_eq!(count().expect("read"), 2, "the kept connection reads the new commit");
    }

    #[test]
    fn a_reader_cannot_write() {
        let dir = tempfile::tempdir().expect("dir");
        let readers = SqliteReaders::new(database(dir.path()));
        let refused = readers.read(|c| c.execute("INSERT INTO t VALUES (3)", []));
        assert!(refused.is_err(), "a read-only connection refused the write");
        let count = readers.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)));
        assert_eq!(count.expect("read"), 1);
    }

    #[test]
    fn a_reader_does_not_wait_for_a_writer_holding_its_transaction() {
        let dir = tempfile::tempdir().expect("dir");
        let path = database(dir.path());
        let writer = Connection::open(&path).expect("writer");
        writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2);").expect("a write under way");
        let readers = SqliteReaders::new(path);
        let count = readers.read(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)));
        assert_eq!(count.expect("read at once"), 1, "the last commit, not the write under way");
        writer.execute_batch("COMMIT").expect("commit");
    }
}
