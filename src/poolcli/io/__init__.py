"""Files and pictures: the picture model, reading and writing image files, pooling them by mode
(alpha, palettes, frames), the fast codecs, and what the CLI shows of them.

Modules: :mod:`~poolcli.io.picture` (the :class:`~poolcli.io.picture.Picture` model),
:mod:`~poolcli.io.reading`, :mod:`~poolcli.io.pooling` (:func:`~poolcli.io.pooling.pool_image`,
:func:`~poolcli.io.pooling.pool_picture`), :mod:`~poolcli.io.alpha` (alpha and palettes),
:mod:`~poolcli.io.formats` (format names, save parameters, metadata), :mod:`~poolcli.io.writing`;
the fast paths :mod:`~poolcli.io.decoders` (libspng, libjpeg-turbo), :mod:`~poolcli.io.ahead`
(reading ahead on a thread), :mod:`~poolcli.io.pngrows` (pooling a PNG while it decodes),
:mod:`~poolcli.io.pngwrite` (the PNG encoder); and :mod:`~poolcli.io.display`,
:mod:`~poolcli.io.sheet`, :mod:`~poolcli.io.preview`, :mod:`~poolcli.io.stats` (comparison sheets,
terminal previews, statistics). This ``__init__`` imports nothing: NumPy and Pillow are imported
by the modules that need them.
"""
