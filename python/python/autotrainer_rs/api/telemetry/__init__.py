"""Telemetry: the reference leaves it disabled (``configure_telemetry`` is
not called); so does this package."""
