#!/usr/bin/env bash
# Regenerates proto-schema/<generation>/*.schema.json from the Rust wire types
# (examples/generate_schemas.rs). Run it after changing anything in src/wire/
# and commit the result; tests/schema.rs fails while the files are stale.
set -euo pipefail

repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
cargo run --quiet --features schema --example generate_schemas -- "${repo_dir}/proto-schema"
