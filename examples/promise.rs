//! The Go tutorial's "Future/Promise" program: `cargo run --example promise`.

use rsvp_examples::{promise, Log};

fn main() {
    let summary = smol::block_on(promise::run(&Log::printing()));
    println!("\nservice: {}", summary.report);
}
