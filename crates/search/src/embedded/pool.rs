//! The threads searches run on: one per core, fed in arrival order from one queue.
//!
//! A query is pure CPU work of a few milliseconds. Run on tokio's blocking pool, eight concurrent
//! queries on two cores meant eight threads time-slicing, with the pool's queue lock and the
//! context switches costing about a sixth of the CPU in a profile of the bench-search mix. Here
//! at most one query per core runs and the rest wait their turn (as in Meilisearch's search
//! queue), so each runs to completion at full speed.

use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::model::SearchError;

type Job = Box<dyn FnOnce() + Send>;

pub(super) struct SearchPool {
    queue: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl SearchPool {
    pub fn start(threads: usize) -> Result<SearchPool, SearchError> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let threads = (0..threads.max(1))
            .map(|i| {
                let jobs = jobs.clone();
                std::thread::Builder::new().name(format!("achex-search-{i}")).spawn(move || {
                    loop {
                        // The lock is held only while taking the next job, never while running it.
                        let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break, // the index was dropped
                        }
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(SearchError::backend)?;
        Ok(SearchPool { queue: Some(queue), threads })
    }

    /// Runs `f` on a search thread and waits for its answer without blocking the caller's
    /// runtime. A panic inside `f` is reported as an error and leaves the thread serving.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(SearchError::Unavailable("a search failed unexpectedly".into())));
            let _ = reply.send(result);
        });
        let stopped = || SearchError::Unavailable("the search threads have stopped".into());
        self.queue.as_ref().ok_or_else(stopped)?.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for SearchPool {
    fn drop(&mut self) {
        self.queue.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
