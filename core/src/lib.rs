// The README's examples use the manual clock, which needs `std`.
#![cfg_attr(feature = "std", doc = include_str!("../../README.md"))]
#![cfg_attr(
    not(feature = "std"),
    doc = "Request/response, promises and batching for async Rust on every target. \
           See the README (built with the `std` feature) for the guide."
)]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod batch;
#[cfg(feature = "alloc")]
pub mod channel;
mod error;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod limits;
pub mod lock;
#[cfg(feature = "std")]
mod manual_clock;
#[cfg(feature = "futures-channel")]
mod mpsc;
pub mod promise;
pub mod queue;
mod reply;
pub mod rpc;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod service;
pub mod stats;
mod sync;
#[cfg(test)]
mod test_support;
pub mod time;
mod wait_list;
mod waker_set;

pub use error::{CallError, TryCallError};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use promise::promise;
pub use promise::Promise;
pub use reply::{RequestInfo, Timed};
pub use rpc::{CallFuture, Caller, CloseMode, Permit, Responder, Rpc, Server};
