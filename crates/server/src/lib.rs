//! The HTTP front door.
//!
//! One port serves every service. A request goes: socket (hyper) -> [`dispatch`] -> the wire
//! layer's router (service and operation) -> input parsing and validation by the model -> the
//! service's handler -> output rendered by the model. `/_fogbank/*` is Fogbank's own API
//! (health, reset). Controllers run beside the server, woken by every committed write.
//!
//! This crate knows no service's internals: it sees only `fogbank_core::Service`.

mod dispatch;
mod http_server;

pub use dispatch::{dispatch, App};
pub use http_server::{run_controllers, serve};
