//! The Go tutorial's "Basic Request/Response" program: `cargo run --example basic`.

use rsvp_examples::{basic, Log};

fn main() {
    let summary = smol::block_on(basic::run(&Log::printing()));
    println!("\nendpoint: {}", summary.stats);
}
