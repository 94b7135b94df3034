//! The shared vocabulary of Fogbank's services.
//!
//! A service crate implements [`Service`] (its API handlers) and may own [`Controller`]s (its
//! reconcile loops); both see the world only through the [`fogbank_state::Store`] and a
//! [`Context`]. Ids and ARNs are made here and nowhere else. Regions and zones are listed here.
//!
//! This crate knows nothing of HTTP or sockets.

/// ARNs, built in one place.
pub mod arn;
/// Resource ids in AWS's formats.
pub mod ids;
/// The regions and availability zones Fogbank answers for.
pub mod regions;
mod service;

pub use service::{Context, Controller, Service, Services};
