"""poolcli: downsample images by pooling with PyTorch/TensorFlow window semantics.

The public API is :func:`pool` (NumPy arrays), :func:`pool_image` (Pillow images), the mode
registry :data:`MODES`, and the exceptions in :mod:`poolcli.errors`. NumPy and Pillow are imported
on first use, so ``poolcli --help`` stays fast.
"""

from typing import Any

from poolcli.errors import ImageError, PoolError, UnsupportedError, WindowError

# The single copy of the version: pyproject.toml reads it from here at build time.
__version__ = "0.1.0"

__all__ = [
    "MODES",
    "ImageError",
    "PoolError",
    "UnsupportedError",
    "WindowError",
    "__version__",
    "pool",
    "pool_image",
]

_LAZY = {
    "pool": "poolcli.backends",
    "MODES": "poolcli.core.modes",
    "pool_image": "poolcli.io.pooling",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'poolcli' has no attribute {name!r}")
