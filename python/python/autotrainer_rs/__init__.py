"""auto-trainer-api-rs: the reference ``auto-trainer-api`` Python API on a Rust core.

Switch an app by replacing ``autotrainer.api`` with ``autotrainer_rs.api`` in
its import lines. See ``autotrainer_rs.api`` for the protocol generation.
"""

from ._core import RUST_VERSION

__version__ = RUST_VERSION

__all__ = ["__version__"]
