"""The one exception the reporting layer raises for anything a user must fix."""

from __future__ import annotations

from longtail.errors import LongtailError


class ReportingError(LongtailError, ValueError):
    """A figure or table cannot be made from what it was given (no studies, a class name or
    an input file that does not fit); the message says which config key or file."""
