#!/usr/bin/env bash
# Builds the Python package auto-trainer-api-rs (python/: PyO3 + maturin,
# one abi3 wheel) and runs its pytest suite twice: in the venv of each
# reference generation (0.9.11 and 0.12.0, from scripts/python-test-env.sh),
# with our wheel installed beside the reference, so each test serves the same
# delegate with both packages and compares the bytes on the wire.
#
# Usage: python-package.sh [pytest arguments...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python_09="$(bash scripts/python-test-env.sh 0.9 | tail -n 1)"
python_012="$(bash scripts/python-test-env.sh 0.12 | tail -n 1)"
wheels="${CARGO_TARGET_DIR:-target}/wheels"

echo "== build the wheel (maturin, debug profile)"
rm -rf "${wheels}"
"$(dirname "${python_09}")/maturin" build --quiet --out "${wheels}" -m python/Cargo.toml
wheel="$(ls "${wheels}"/auto_trainer_api_rs-*-cp38-abi3-*.whl)"

for pair in "0.9.11:${python_09}" "0.12:${python_012}"; do
  generation="${pair%%:*}"
  python="${pair#*:}"
  echo "== pytest python/tests against the reference ${generation}"
  "${python}" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "${wheel}"
  AUTOTRAINER_RS_PROTOCOL="${generation}" "${python}" -m pytest -q -p no:cacheprovider python/tests "$@"
done
