//! `achex reindex`: rebuilds the search index from the database with a progress bar.

use crate::indexer::Indexer;
use crate::settings::{SearchBackendKind, Settings};
use crate::startup::{index_positions, open_search};
use achex_store::Store;
use anyhow::Context;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Rebuilds the configured index. An embedded index written by another version is deleted and
/// created afresh (it is only a copy of the database).
pub async fn run(settings: &Settings, store: Store) -> anyhow::Result<u64> {
    let index = match open_search(settings).await {
        Ok(index) => index,
        Err(e) if settings.search.backend == SearchBackendKind::Embedded => {
            let dir = settings.search_dir();
            eprintln!("The search index at {} cannot be opened ({e:#}); recreating it.", dir.display());
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
            open_search(settings).await?
        }
        Err(e) => return Err(e),
    };
    let indexer = Indexer::new(store, index, index_positions(settings), None);
    let mut bar = ProgressBar::new(std::io::stderr().is_terminal());
    let indexed = indexer.rebuild(|done, total| bar.show(done, total)).await?;
    bar.finish();
    Ok(indexed)
}

/// A one-line progress bar on a terminal; a line per tenth of the work otherwise (CI logs).
struct ProgressBar {
    terminal: bool,
    started: Instant,
    last_drawn: Option<Instant>,
    last_tenth: u64,
}

impl ProgressBar {
    fn new(terminal: bool) -> Self {
        ProgressBar { terminal, started: Instant::now(), last_drawn: None, last_tenth: u64::MAX }
    }

    fn show(&mut self, done: u64, total: u64) {
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let due = self.last_drawn.is_none_or(|at| at.elapsed() >= Duration::from_millis(100));
            if due || done == total {
                const WIDTH: u64 = 30;
                let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH).min(WIDTH);
                let bar = format!("{}{}", "#".repeat(filled as usize), "-".repeat((WIDTH - filled) as usize));
                let _ = write!(err, "\r[{bar}] {done}/{total} listings  {rate:.0}/s ");
                let _ = err.flush();
                self.last_drawn = Some(Instant::now());
            }
        } else {
            let tenth = (done * 10).checked_div(total).unwrap_or(10);
            if tenth != self.last_tenth {
                let _ = writeln!(err, "reindex: {done}/{total} listings ({rate:.0}/s)");
                self.last_tenth = tenth;
            }
        }
    }

    fn finish(&mut self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
