//! The Go tutorial's "Basic Request/Response" program on async-executor through
//! rsvp-futures: `cargo run --example basic_futures`.

use rsvp_examples::{basic_futures, Log};

fn main() {
    let executor = async_executor::Executor::new();
    let log = Log::printing();
    let summary = futures_lite::future::block_on(executor.run(basic_futures::run(&executor, &log)));
    println!("\nendpoint: {}", summary.stats);
}
