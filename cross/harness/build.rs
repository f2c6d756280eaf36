//! Writes the memory map of the QEMU machine the target runs on, and tells the harness
//! which target it was built for (the suite prints it).

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=RSVP_CROSS_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
    // Which QEMU machine the target runs on: its clock and RAM size differ.
    if target.starts_with("thumbv6m") {
        println!("cargo:rustc-cfg=rsvp_cross_microbit");
    }

    // memory.x must match the machine: mps2-an386 maps 4 MiB of code SRAM at 0 and 4 MiB
    // of data SRAM at 0x2000_0000; the micro:bit (nRF51) has 256 KiB of flash and 16 KiB
    // of RAM.
    let memory = if target.starts_with("thumbv6m") {
        "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 256K\n  RAM : ORIGIN = 0x20000000, LENGTH = 16K\n}\n"
    } else if target.starts_with("thumb") {
        "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 4M\n  RAM : ORIGIN = 0x20000000, LENGTH = 4M\n}\n"
    } else if target.starts_with("riscv32") {
        // QEMU's virt machine with `-bios none` starts at its RAM, 0x8000_0000; riscv-rt
        // places every section through these region aliases.
        concat!(
            "MEMORY\n{\n  RAM : ORIGIN = 0x80000000, LENGTH = 16M\n}\n",
            "REGION_ALIAS(\"REGION_TEXT\", RAM);\nREGION_ALIAS(\"REGION_RODATA\", RAM);\n",
            "REGION_ALIAS(\"REGION_DATA\", RAM);\nREGION_ALIAS(\"REGION_BSS\", RAM);\n",
            "REGION_ALIAS(\"REGION_HEAP\", RAM);\nREGION_ALIAS(\"REGION_STACK\", RAM);\n",
        )
    } else {
        return;
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    // A link search path set by a dependency reaches the final binary; `-Tlink.x` itself
    // comes from .cargo/config.toml, since a dependency cannot add link args.
    println!("cargo:rustc-link-search={}", out.display());
}
