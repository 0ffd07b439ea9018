"""Exceptions shared by the library and the CLI.

Every error poolcli raises on purpose is a :class:`PoolError`, itself a :class:`ValueError`, so
``except ValueError`` keeps working for callers who do not care which kind it was. Messages are one
line and name what was asked (shape, window, file) so they can be shown to a user as they are.
"""


class PoolError(ValueError):
    """Base class of poolcli's own errors."""


class WindowError(PoolError):
    """A window that cannot be applied: bad sizes or padding, or a window that does not fit."""


class UnsupportedError(PoolError):
    """An input poolcli does not handle: an unknown mode, dtype, or image mode."""


class ImageError(PoolError):
    """An image file that cannot be read or written (missing, truncated, not an image, ...)."""
