//! `b_rsvp` with 8 reply slots instead of 4: the difference in RAM is 4 slots' worth.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

rsvp_size::rsvp_firmware!(8);
