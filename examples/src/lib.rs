//! The Go tutorial "Request/Response pattern" has four programs; this crate is those
//! programs in Rust, on smol with [`rsvp_smol`], in real time:
//!
//! | module | the seed's program | run it |
//! | --- | --- | --- |
//! | [`basic`] | Basic Request/Response | `cargo run --example basic` |
//! | [`timeout`] | Request/Response with Timeout | `cargo run --example timeout` |
//! | [`promise`] | Future/Promise | `cargo run --example promise` |
//! | [`batch`] | Batch Request/Response | `cargo run --example batch` |
//!
//! The basic program also runs on tokio ([`basic_tokio`], `cargo run --example
//! basic_tokio`) and on async-executor through rsvp-futures ([`basic_futures`],
//! `cargo run --example basic_futures`).
//!
//! `cargo run --example tour` runs all four, one after the other, and prints each one's
//! stats.
//!
//! Each module's `run` is the program: it writes the program's output to a [`Log`] and
//! returns a summary of what happened, so that the example binaries print the output and
//! the tests check the outcomes of the very same code.
//!
//! Where the seed sleeps for a random time, these programs work for a fixed time chosen to
//! give the outcome the seed's text intends (the "slow" request times out, the promise
//! wait gives up, the batch splits), with tens of milliseconds to spare: the outcomes are
//! the same on every run; only the measured durations in the output change.

mod log;

pub mod basic;
pub mod basic_futures;
pub mod basic_tokio;
pub mod batch;
pub mod promise;
pub mod timeout;

pub use log::Log;

use std::fmt;
use std::time::Duration;

/// A duration in milliseconds with one decimal ("100.3ms"), which reads better in the
/// programs' output than `Duration`'s nanosecond `Debug`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}ms", self.0.as_secs_f64() * 1e3)
    }
}
