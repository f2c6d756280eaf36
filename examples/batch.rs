//! The Go tutorial's "Batch Request/Response" program: `cargo run --example batch`.

use rsvp_examples::{batch, Log};

fn main() {
    let summary = smol::block_on(batch::run(&Log::printing()));
    println!("\nbatch server: {}", summary.report);
}
