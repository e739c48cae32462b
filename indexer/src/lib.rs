//! Jobs for library staff, as a library: harvesting sources into the store, importing files,
//! building index generations, evaluation. The `indexer` binary and the server's job runner both
//! call these.
#![warn(missing_docs)]

pub mod build;
pub mod config;
pub mod eval;
pub mod harvesting;
pub mod incremental;
pub mod mesh;
pub mod priority;
pub mod progress;
pub mod starter;
pub mod store_build;

pub use build::{build_generation, compact, BuildError, BuildOptions, BuildReport, CompactReport};
pub use config::Config;
pub use progress::{Progress, Snapshot};
