//! The `achex` binary's library half: settings, wiring and the commands, so the test harness can
//! start exactly what production starts.

pub mod audit;
pub mod demo;
pub mod indexer;
pub mod notify;
pub mod reindex;
pub mod seed;
pub mod settings;
pub mod startup;

pub use settings::Settings;

/// mimalloc instead of glibc's malloc, in the `achex` binary and everything else that embeds the
/// server (the benches, the integration tests). A hot lot's appends build and drop a JSON tree per
/// log entry; in a profile glibc's malloc and free (chunk consolidation and unlinking) took about
/// 30% of the CPU. Meilisearch makes the same choice.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub use startup::{Application, build_state, open_store};
