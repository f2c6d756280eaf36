//! The Go tutorial's "Request/Response with Timeout" program: `cargo run --example timeout`.

use rsvp_examples::{timeout, Log};

fn main() {
    let summary = smol::block_on(timeout::run(&Log::printing()));
    println!("\nendpoint: {}", summary.stats);
}
