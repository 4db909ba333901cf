#!/usr/bin/env bash
# Runs the service benchmark (benches/rpc.rs) and keeps its output in
# target/bench-results.txt. Extra arguments go to the benchmark binary, e.g.
# `scripts/bench.sh --quick` (or set BENCH_QUICK=1) for the short CI run.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
mkdir -p target
cargo bench --bench rpc -- "$@" 2>&1 | tee target/bench-results.txt
