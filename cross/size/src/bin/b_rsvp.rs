//! (b): the same behaviour as `a_handwritten` on rsvp-embassy, with 4 reply slots.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

rsvp_size::rsvp_firmware!(4);
