"""Signals and volumes by hand: ``pool`` of 1-D and 3-D arrays, ``sparse`` mode (its rule, its
background, its two paths), and the errors about the number of spatial axes.

PyTorch's golden vectors of 1-D and 3-D pooling are checked in ``test_golden.py``, the reference
on random signals and volumes in ``test_reference.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import poolcli
import reference
from poolcli.errors import UnsupportedError, WindowError

MODES = ["max", "min", "avg", "sum", "median", "mode", "lp", "sparse"]


def test_a_signal_and_a_volume_by_hand() -> None:
    signal = np.array([3, 1, 4, 1, 5, 9, 2], np.uint8)
    assert poolcli.pool(signal, "max", kernel_size=(3,), stride=(2,), padding=(1,)).tolist() == [
        3,
        4,
        9,
        9,
    ]
    assert poolcli.pool(signal, "avg", kernel_size=(2,), ceil_mode=True).tolist() == [
        2,
        3,
        7,
        2,
    ]
    volume = np.arange(27, dtype=np.int16).reshape(3, 3, 3)
    assert poolcli.pool(volume, "min", kernel_size=(2, 2, 2), stride=1).tolist() == [
        [[0, 1], [3, 4]],
        [[9, 10], [12, 13]],
    ]
    assert poolcli.pool(volume, "sum", output_size=(1, 1, 1)).tolist() == [[[351]]]
    # a volume with channels: a cell's C values are one label for mode
    rgb = np.zeros((2, 2, 2, 3), np.uint8)
    rgb[0, 0, 0] = rgb[1, 1, 1] = rgb[0, 1, 0] = (9, 0, 0)
    rgb[1, 0, 0] = (0, 9, 9)
    assert poolcli.pool(rgb, "mode", kernel_size=(2, 2, 2)).tolist() == [[[[0, 0, 0]]]]
    rgb[1, 0, 1] = (9, 0, 0)
    assert poolcli.pool(rgb, "mode", kernel_size=(2, 2, 2)).tolist() == [[[[9, 0, 0]]]]


def test_sparse_keeps_labels_over_background() -> None:
    labels = np.array(
        [[0, 0, 0, 5, 7, 7], [0, 3, 0, 5, 7, 0]],
        np.uint16,
    )
    assert poolcli.pool(labels, "mode", kernel_size=2).tolist() == [[0, 0, 7]]  # 0 ties 5
    assert poolcli.pool(labels, "sparse", kernel_size=2).tolist() == [[3, 5, 7]]
    blank = np.zeros((2, 2, 2), np.uint8)
    assert poolcli.pool(blank, "sparse", kernel_size=(2, 2, 2)).tolist() == [[[0]]]
    # another background: 7 never wins a window holding anything else
    assert poolcli.pool(labels, "sparse", kernel_size=2, background=7).tolist() == [[0, 0, 0]]
    # ties among labels go to the smallest; background loses to a single label
    row = np.array([[9, 0, 0, 0, 4, 0, 2, 0]], np.int32)
    assert poolcli.pool(row, "sparse", kernel_size=(1, 8)).tolist() == [[2]]
    # colour labels: a background pixel is one whose every channel is the background value
    rgb = np.array([[[0, 0, 0], [0, 0, 1]], [[0, 0, 0], [0, 0, 0]]], np.uint8)
    assert poolcli.pool(rgb, "sparse", kernel_size=2).tolist() == [[[0, 0, 1]]]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "int64", "float64", "bool"])
def test_sparse_fast_and_gathered_paths_agree(dtype: str) -> None:
    """The network path (2x2x2 interior windows, keys widened) against the sorted one."""
    rng = np.random.default_rng(5)
    x = (rng.random((9, 10, 11)) < 0.3) * rng.integers(1, 4, (9, 10, 11))
    x = x.astype(dtype)
    got = poolcli.pool(x, "sparse", kernel_size=(2, 2, 2), padding=(1, 0, 1))
    want = reference.pool(x, "sparse", kernel_size=(2, 2, 2), padding=(1, 0, 1))
    np.testing.assert_array_equal(got, want)


def test_two_axes_as_tuples_or_ints_are_the_same_call() -> None:
    x = np.random.default_rng(1).integers(0, 255, (9, 7, 3)).astype(np.uint8)
    for mode in MODES:
        a = poolcli.pool(x, mode, kernel_size=3, stride=2, padding=1)
        b = poolcli.pool(x, mode, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        (
            (4, 4, 4),
            {"kernel_size": (2, 2, 2), "stride": (1, 1)},
            "disagree on the number",
        ),
        (
            (4, 4, 4),
            {"output_size": (2, 2, 2), "kernel_size": (2, 2)},
            "disagree on the number",
        ),
        ((4, 4, 4, 4), {"kernel_size": 2}, "kernel_size=(2, 2, 2)"),
        ((8,), {"kernel_size": 2}, "kernel_size=(2,)"),
        ((4, 4), {"kernel_size": (2, 2, 2)}, "(D, H, W) or (D, H, W, C)"),
        ((4, 4, 4, 2, 1), {"kernel_size": (2, 2, 2)}, "(D, H, W) or (D, H, W, C)"),
        ((4, 4, 4), {"kernel_size": (2, 2, 2, 2)}, "1, 2 or 3 entries"),
        ((3, 4, 4), {"kernel_size": (4, 2, 2)}, "larger than the padded input 3"),
        ((3,), {"kernel_size": (0,)}, "kernel_size must be >= 1"),
    ],
)
def test_spatial_axes_errors_are_one_line(shape, kwargs, message) -> None:
    with pytest.raises((WindowError, UnsupportedError)) as info:
        poolcli.pool(np.zeros(shape, np.uint8), "max", **kwargs)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert str(shape) in text or "x".join(map(str, shape[:3])) in text


@pytest.mark.parametrize("background", [0.5, 300, -1, "0", None, float("nan"), True])
def test_sparse_background_must_fit_the_dtype(background) -> None:
    with pytest.raises(UnsupportedError, match="background"):
        poolcli.pool(np.zeros((2, 2), np.uint8), "sparse", background=background)


def test_sparse_is_one_registry_entry() -> None:
    info = poolcli.MODES["sparse"]
    assert info.params == ("background",) and not info.separable
    assert "background" in info.summary


def test_sparse_of_a_tensor_says_to_pool_numpy() -> None:
    """The torch backend has no sparse mode: one clear line, not another mode's values. (Its
    volumes and signals are the core's: tests/backends/test_torch.py.)"""
    torch = pytest.importorskip("torch")
    with pytest.raises(UnsupportedError, match="no sparse mode"):
        poolcli.pool(torch.zeros((4, 4), dtype=torch.uint8), "sparse")
    with pytest.raises(UnsupportedError, match="no sparse mode"):
        poolcli.pool(np.zeros((4, 4), np.uint8), "sparse", device="cpu")
    volume = torch.arange(8, dtype=torch.uint8).reshape(2, 2, 2)
    assert poolcli.pool(volume, "max", kernel_size=(2, 2, 2)).tolist() == [[[7]]]


def test_sparse_batch_keeps_the_background() -> None:
    x = np.array([[[5, 5], [0, 1]], [[0, 0], [0, 0]]], np.uint8)
    got = poolcli.pool(x, "sparse", batch=True, background=5)
    assert got.tolist() == [[[0]], [[0]]]
    assert poolcli.pool(x, "sparse", batch=True).tolist() == [[[5]], [[0]]]


def test_sparse_pools_a_label_image_as_labels() -> None:
    """pool_image: a palette image's indices are labels for sparse as for mode (palette kept),
    and a transparent pixel is background."""
    from PIL import Image

    idx = np.zeros((4, 4), np.uint8)
    idx[0, 0] = 3
    idx[2:, 2:] = 1
    idx[3, 0] = 2
    im = Image.fromarray(idx, "P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    out = poolcli.pool_image(im, "sparse", kernel_size=2)
    assert out.mode == "P" and out.getpalette()[:12] == im.getpalette()[:12]
    assert np.asarray(out).tolist() == [[3, 0], [2, 1]]
    assert np.asarray(poolcli.pool_image(im, "mode", kernel_size=2)).tolist() == [[0, 0], [0, 1]]
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (200, 10, 10, 255)
    rgba[1, 1] = (5, 5, 5, 0)  # transparent: background whatever its colour
    got = poolcli.pool_image(Image.fromarray(rgba, "RGBA"), "sparse", kernel_size=2)
    assert got.getpixel((0, 0)) == (200, 10, 10, 255)


@pytest.mark.parametrize("mode", MODES)
def test_volume_views_pool_as_their_copies(mode: str) -> None:
    """Fortran order, a reversed view and a strided view give the contiguous copy's values."""
    rng = np.random.default_rng(2)
    base = rng.integers(0, 4, (7, 6, 5, 2)).astype(np.int16)
    big = np.zeros((14, 6, 15, 2), np.int16)
    big[::2, :, ::3] = base
    views = [
        np.asfortranarray(base),
        np.ascontiguousarray(base[::-1, :, ::-1])[::-1, :, ::-1],
        big[::2, :, ::3],
        base[..., 0],
    ]
    kw = {"kernel_size": (3, 2, 2), "stride": (2, 1, 2), "padding": (1, 0, 1)}
    for view in views:
        want = poolcli.pool(np.ascontiguousarray(view), mode, **kw)
        np.testing.assert_array_equal(poolcli.pool(view, mode, **kw), want)
