"""The array core: window geometry, the mode registry, the NumPy kernels. Pure NumPy, no I/O.

This package's ``__init__`` imports nothing, so :mod:`poolcli.core.modes` (the registry the
command line is built from) is importable without NumPy.
"""
