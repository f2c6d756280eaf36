//! The firmware of cross/README.md's guide, "Writing a firmware with rsvp-embassy":
//! `build.rs` copies its code from the README, so the guide's code is what this builds.
//! `./test.sh` builds it for thumbv6m-none-eabi (where `StaticCell` needs portable-atomic's
//! `critical-section` feature) and thumbv7em-none-eabihf. It is built, not run: like a real
//! firmware it never ends.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

// Stands in for the firmware's HAL and panic handler: the time driver, the critical-section
// implementation, the memory layout, the panic handler.
use rsvp_cross as _;

include!(concat!(env!("OUT_DIR"), "/guide.rs"));
