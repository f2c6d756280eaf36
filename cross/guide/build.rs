//! Copies the firmware of cross/README.md's guide (the `rust` block of "Writing a firmware
//! with rsvp-embassy") into OUT_DIR, so that `src/main.rs` compiles it exactly as written.

use std::env;
use std::fs;
use std::path::PathBuf;

const README: &str = "../README.md";
const SECTION: &str = "## Writing a firmware with rsvp-embassy";
const OPEN: &str = "\n```rust\n";
const CLOSE: &str = "\n```\n";

fn main() {
    println!("cargo:rerun-if-changed={README}");
    let text = fs::read_to_string(README).expect("read cross/README.md");
    let section = &text[text.find(SECTION).expect("the guide's section")..];
    let start = section.find(OPEN).expect("a rust block in the guide") + OPEN.len();
    let len = section[start..].find(CLOSE).expect("the rust block's end");
    // The block's lines, with the newline that ends the last one.
    let code = &section[start..=start + len];
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("guide.rs"), code).expect("write guide.rs");
}
