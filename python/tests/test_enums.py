"""The generated enum modules are the Rust catalogs, as they are now."""

import pathlib
import subprocess
import sys

GENERATOR = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "generate_enums.py"


def test_the_enum_modules_match_the_rust_catalogs():
    checked = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
