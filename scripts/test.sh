#!/usr/bin/env bash
# The whole test suite, on a fresh machine with only Rust and python3:
# unit and integration tests over real ZeroMQ sockets, interop tests against
# the Python reference (auto-trainer-api 0.9.11, installed into a venv under
# target/ by scripts/python-test-env.sh), the examples run as processes, doc
# tests, all without and with the `telemetry` feature.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== Python venv with the reference implementation"
bash scripts/python-test-env.sh

echo "== tests (default features)"
cargo test --lib --bins --tests --examples
cargo test --doc

echo "== tests (--features telemetry)"
cargo test --features telemetry --lib --bins --tests --examples
