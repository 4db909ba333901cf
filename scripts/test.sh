#!/usr/bin/env bash
# The whole test suite, on a fresh machine with only Rust and python3:
# unit and integration tests over real ZeroMQ sockets, interop tests against
# the Python reference (auto-trainer-api 0.9.11 and 0.12.0, each installed
# into its own venv under target/ by scripts/python-test-env.sh), the
# examples run as processes, doc tests. Twice: the device-only build (`--no-default-features`: no operator
# client, no tokio, telemetry compiled out) and every feature. Then the fleet
# gateway end to end (nats-server and nats-py from PyPI, in a third venv)
# and its dashboard in a real headless Chromium (Debian's, installed here).
# Then the Socket.IO bridge end to end (python-socketio and pyzmq, in a
# fourth venv). Last, the Python package built with maturin and tested with
# pytest beside each generation of the reference.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== Python venvs with both generations of the reference implementation, the fleet's NATS tools, the bridge's Socket.IO client"
bash scripts/python-test-env.sh 0.9
bash scripts/python-test-env.sh 0.12
bash scripts/python-test-env.sh fleet
bash scripts/python-test-env.sh bridge

# The tests run the examples' executables (tests/common/examples.rs) and
# never build them. `cargo test` alone does not build an example that has
# unit tests of its own (remote_console: `test = true` builds it as a test
# harness instead), so the examples are built first.
echo "== tests, device-only build (--no-default-features)"
cargo build --no-default-features --examples
cargo test --no-default-features

echo "== tests, all features (client, schema, telemetry)"
cargo build --all-features --examples
cargo test --all-features

# The dashboard's browser test drives Debian's Chromium through its driver
# (selenium from the fleet venv); installed once, when missing (as root).
echo "== Chromium and chromium-driver for the dashboard's browser test"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

# Real processes: nats-server (from the fleet venv), the gateway, rigs
# (the examples built above and the Python reference), a nats-py client,
# the dashboard in headless Chromium; built with its `telemetry` feature,
# whose metrics a test receives as an OTLP collector would.
echo "== the fleet gateway, end to end"
cargo test -p auto-trainer-gateway --all-features

# Real processes: the bridge binary, a python-socketio client as the
# device, pyzmq REQ and SUB peers.
echo "== the Socket.IO bridge, end to end"
cargo test -p auto-trainer-bridge

# The Python package on the Rust core (maturin builds the wheel; pytest runs
# it beside each generation of the reference, compared byte for byte).
echo "== the Python package auto-trainer-api-rs (pytest, both generations)"
bash scripts/python-package.sh
