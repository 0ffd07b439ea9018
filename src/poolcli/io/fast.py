"""Whether the fast codecs may be used: ``POOLCLI_FAST=0`` turns them off.

imagecodecs (libspng, libjpeg-turbo: :mod:`poolcli.io.decoders`, :mod:`poolcli.io.pngrows`,
:mod:`poolcli.io.ahead`) and ISA-L (:mod:`poolcli.io.pngwrite`) are dependencies of poolcli, and
each is used only if it imports: on a platform without wheels for them, poolcli decodes with
Pillow and deflates with zlib, with the same pixels. ``POOLCLI_FAST=0`` makes an installation
that has them behave the same way (to compare, or to step around a bad build of one of them).
It is read when each codec is first looked for, once per process.
"""

from __future__ import annotations

import os

__all__ = ["ENV", "wanted"]

ENV = "POOLCLI_FAST"


def wanted() -> bool:
    """False when ``POOLCLI_FAST`` is ``0`` (the fast codecs are then never loaded).

    >>> wanted() in (True, False)
    True
    """
    return os.environ.get(ENV, "").strip() != "0"
