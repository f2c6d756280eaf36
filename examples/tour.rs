//! The tour: the Go tutorial's four request/response programs in Rust, one after the
//! other, then what each one's endpoint counted. `cargo run --example tour`.

use std::time::Instant;

use rsvp_examples::{basic, batch, promise, timeout, Log};

fn main() {
    let started = Instant::now();
    let log = Log::printing();
    // Underlined rather than `===`-prefixed: CI's log marks its own steps with `===`.
    let heading = |title: &str| {
        log.line("");
        log.line(title);
        log.line("-".repeat(title.len()));
    };

    let (basic, timeout, promise, batch) = smol::block_on(async {
        heading("Basic Request/Response (rsvp_examples::basic)");
        let basic = basic::run(&log).await;
        heading("Request/Response with Timeout (rsvp_examples::timeout)");
        let timeout = timeout::run(&log).await;
        heading("Future/Promise (rsvp_examples::promise)");
        let promise = promise::run(&log).await;
        heading("Batch Request/Response (rsvp_examples::batch)");
        let batch = batch::run(&log).await;
        (basic, timeout, promise, batch)
    });

    heading("Stats: what each endpoint counted");
    println!("basic    {}", basic.stats);
    println!("timeout  {}", timeout.stats);
    // A promise service has no endpoint: its report counts the jobs.
    println!(
        "promise  {} (a promise service has no call stats)",
        promise.report
    );
    println!("batch    {}", batch.report.stats);
    println!(
        "         {} batches of {:?} items; an item's own error still counts as a reply",
        batch.report.batches, batch.batch_sizes
    );
    println!("\nThe tour took {:.2}s.", started.elapsed().as_secs_f64());
}
