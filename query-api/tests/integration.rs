//! The HTTP API driven in memory (tower `oneshot`) over an index built from the starter corpus.

mod common;
mod search_api;
