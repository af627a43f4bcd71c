"""The one exception the data layer raises for anything a user must fix."""

from __future__ import annotations

from longtail.errors import LongtailError


class DataError(LongtailError, RuntimeError):
    """A dataset cannot be obtained, verified, converted or read; the message says where and why."""
