//! The HTTP API driven in memory (tower `oneshot`) over an index built from the starter corpus.

mod common;
mod admin_api;
mod search_api;
