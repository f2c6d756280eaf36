#!/usr/bin/env bash
# Firmware size: builds (a) a hand-written embassy Channel + Signal request/response with an
# embassy-time timeout and (b) the same behaviour on rsvp-embassy, in release with
# opt-level "s" and fat LTO for thumbv7em-none-eabihf, runs each under QEMU when it is
# installed (each must exit 0), and prints text/data/bss for both, and the RAM of one reply
# slot (from the `RPC` symbol of builds with 4 and 8 slots).
#
# Sizes come from GNU size (binutils-arm-none-eabi) or, without it, llvm-size from
# rustup's llvm-tools component.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

TARGET=thumbv7em-none-eabihf
cargo build --release --target "$TARGET" -p rsvp-size --bins
OUT="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/$TARGET/release"

if command -v arm-none-eabi-size >/dev/null; then
    SIZE=arm-none-eabi-size
    NM=arm-none-eabi-nm
else
    rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools
    BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
    SIZE="$BIN/llvm-size"
    NM="$BIN/llvm-nm"
fi

if command -v qemu-system-arm >/dev/null; then
    for fw in a_handwritten b_rsvp b_rsvp_8; do
        timeout 60 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none \
            -serial none -semihosting-config enable=on,target=native -kernel "$OUT/$fw" ||
            { echo "firmware $fw did not run to a successful end under QEMU" >&2; exit 1; }
    done
fi

# text data bss of one ELF (Berkeley format, the same for GNU size and llvm-size).
sizes() { "$SIZE" "$OUT/$1" | awk 'NR == 2 { print $1, $2, $3 }'; }
# The size in bytes of the symbol named $2 in the ELF $1.
symbol_size() {
    local hex
    hex=$("$NM" -S "$OUT/$1" | awk -v name="$2" '$4 == name { print $2 }')
    echo $((16#$hex))
}

read -r at ad ab <<<"$(sizes a_handwritten)"
read -r bt bd bb <<<"$(sizes b_rsvp)"
printf '\nfirmware size: %s, release, opt-level "s", fat LTO (bytes)\n' "$TARGET"
printf '%-40s %7s %7s %7s\n' firmware text data bss
printf '%-40s %7d %7d %7d\n' "(a) embassy Channel + Signal" "$at" "$ad" "$ab"
printf '%-40s %7d %7d %7d\n' "(b) rsvp-embassy, 4 reply slots" "$bt" "$bd" "$bb"
printf '%-40s %+7d %+7d %+7d   (target: text at most +2048)\n' "(b) - (a)" \
    $((bt - at)) $((bd - ad)) $((bb - ab))
rpc4=$(symbol_size b_rsvp RPC)
rpc8=$(symbol_size b_rsvp_8 RPC)
printf 'endpoint (RPC static): %d bytes with 4 slots, %d with 8: %d bytes per reply slot (target: at most 32)\n' \
    "$rpc4" "$rpc8" $(((rpc8 - rpc4) / 4))
