#!/usr/bin/env bash
# Checks that the `rust-version` of every workspace member is true: not lower
# than the highest `rust-version` among the dependencies the committed
# Cargo.lock selects (read from `cargo metadata`, all features, every target).
# Exits 1 and names the dependency when a member claims too little.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo metadata --format-version 1 --locked --all-features | python3 -c '
import json, sys

def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

metadata = json.load(sys.stdin)
members = set(metadata["workspace_members"])
needed, needed_by = (0, 0, 0), "nothing"
for package in metadata["packages"]:
    if package["id"] in members or not package.get("rust_version"):
        continue
    if version(package["rust_version"]) > needed:
        needed, needed_by = version(package["rust_version"]), package["name"] + " " + package["version"]
needed_text = ".".join(map(str, needed))
failed = False
for package in metadata["packages"]:
    if package["id"] not in members:
        continue
    declared = package.get("rust_version") or "none"
    verdict = "ok" if declared != "none" and version(declared) >= needed else "TOO LOW"
    failed |= verdict != "ok"
    name = package["name"]
    print(f"{name}: rust-version {declared}; the locked dependencies need {needed_text} ({needed_by}): {verdict}")
sys.exit(1 if failed else 0)
'
