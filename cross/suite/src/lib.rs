//! Nothing here: the suite is `tests/suite.rs`, run with `cargo test` (host) or
//! `cargo test --target <t>` (QEMU).
#![no_std]
