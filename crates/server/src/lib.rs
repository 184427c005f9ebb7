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
pub use startup::{Application, build_state, open_store};
