"""What both generators share: write the modules, or check them (``--check``)."""

import argparse
import pathlib
import sys
from typing import Dict


def write_or_check(directory: pathlib.Path, modules: Dict[str, str], generator: str) -> int:
    """Writes `modules` (file name -> text) into `directory`; with
    ``--check`` on the command line, only compares and returns 1 when one differs."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    check = parser.parse_args().check
    stale = []
    for file_name, text in modules.items():
        path = directory / file_name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(file_name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run python/scripts/{generator}): {stale}", file=sys.stderr)
        return 1
    return 0
