#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod timer;

pub use timer::{Sleep, SmolTimer};
