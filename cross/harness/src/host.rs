//! The host: embassy's std executor and embassy-time's std driver; a panic anywhere ends
//! the run the way it does on bare metal.

extern crate std;

use std::boxed::Box;

use embassy_executor::{Executor, Spawner};

/// Runs an executor whose first task `init` spawns. Never returns: the suite ends the
/// process.
pub fn start(init: impl FnOnce(Spawner)) -> ! {
    std::panic::set_hook(Box::new(|info| {
        crate::fail_current(format_args!("{info}"));
    }));
    Box::leak(Box::new(Executor::new())).run(init)
}
