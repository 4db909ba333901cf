#!/usr/bin/env bash
# Fuzzes the wire code (fuzz/fuzz_targets/wire.rs) for a bounded time:
# `scripts/fuzz.sh [seconds]`, 60 by default, build time not counted.
# cargo-fuzz needs a nightly toolchain; without one this says so and exits 0.
# New inputs go to fuzz/target/corpus/wire, so the committed seeds in
# fuzz/corpus/wire stay as they are; a failing input is saved under
# fuzz/artifacts/wire/ and the script fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
if ! [[ "${seconds}" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [seconds]   (a positive whole number; default 60)" >&2
    exit 2
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: skipped: no nightly toolchain (rustup toolchain install nightly)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

mkdir -p fuzz/target/corpus/wire
cargo +nightly fuzz run wire fuzz/target/corpus/wire fuzz/corpus/wire -- \
    -max_total_time="${seconds}" -dict=fuzz/wire.dict -print_final_stats=1
