//! The Go tutorial's "Basic Request/Response" program on tokio:
//! `cargo run --example basic_tokio`.

use rsvp_examples::{basic_tokio, Log};

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let summary = runtime.block_on(basic_tokio::run(&Log::printing()));
    println!("\nendpoint: {}", summary.stats);
}
