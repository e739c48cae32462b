//! The HTTP API driven in memory (tower `oneshot`) over an index built from the starter corpus.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_api;
#[path = "../common/mod.rs"]
mod common;
mod evidence_order;
mod federated_api;
mod search_api;
mod semantic_api;
