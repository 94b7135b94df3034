//! The state store.
//!
//! Every resource is a JSON document addressed by [`Scope`] (account and region), kind
//! (`vpc`, `instance`, ...) and id. All documents live in memory for fast reads; every write
//! transaction is committed to SQLite before it is visible or acknowledged, so a `kill -9`
//! loses nothing that was answered. On start the whole table is loaded back.
//!
//! The store knows nothing of AWS protocols or services; documents are opaque to it.

mod store;

pub use store::{Scope, Store, StoreError, Tx};
