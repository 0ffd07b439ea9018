"""poolcli.run.pyramid: every level equals pooling the input with FACTOR**L windows, whichever way
it was computed; max and min of the level before are proved equal on random odd shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from poolcli import pool
from poolcli.core.modes import MODES
from poolcli.errors import WindowError
from poolcli.io import picture, pooling
from poolcli.run import pyramid

FACTORS = st.sampled_from([2, 3, (1, 2), (2, 3), (3, 1)])


def compounded(factor: int | tuple[int, int], level: int) -> tuple[int, int]:
    fh, fw = (factor, factor) if isinstance(factor, int) else factor
    return fh**level, fw**level


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    c=st.sampled_from([None, 1, 3]),
    dtype=st.sampled_from(["bool", "uint8", "uint16", "int16", "int32", "float32", "float64"]),
    mode=st.sampled_from(sorted(pyramid.CHAINED_MODES)),
    factor=FACTORS,
    seed=st.integers(0, 2**32 - 1),
)
def test_extremes_of_extremes_are_the_extremes_of_the_union(
    h: int, w: int, c: int | None, dtype: str, mode: str, factor, seed: int
) -> None:
    """The proof behind chaining: pool(pool(x, f), f) == pool(x, f*f), ragged edges included."""
    rng = np.random.default_rng(seed)
    shape = (h, w) if c is None else (h, w, c)
    if dtype == "bool":
        x = rng.random(shape) < 0.5
    elif dtype.startswith("float"):
        x = rng.normal(0, 100, shape).astype(dtype)
        x[rng.random(shape) < 0.05] = np.nan  # NaN propagates through both
        x[rng.random(shape) < 0.05] = -np.inf
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    levels = pyramid.max_levels((h, w), factor)
    if levels == 0:
        with pytest.raises(WindowError, match="room for 0 levels"):
            pyramid.pyramid(x, mode, 1, factor)
        return
    made = pyramid.pyramid(x, mode, levels, factor)
    assert len(made) == levels
    for level, got in enumerate(made, start=1):
        k = compounded(factor, level)
        want = pool(x, mode, kernel_size=k, stride=k)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_averages_of_rounded_averages_drift_so_avg_comes_from_the_input() -> None:
    x = np.array([[1, 0, 0, 0]], np.uint8)
    chained = pool(pool(x, "avg", kernel_size=(1, 2)), "avg", kernel_size=(1, 2))
    direct = pool(x, "avg", kernel_size=(1, 4))
    assert chained.tolist() == [[1]] and direct.tolist() == [[0]]  # 0.5 -> 1 -> 1, 0.25 -> 0
    (_, level2) = pyramid.pyramid(x, "avg", 2, (1, 2))
    assert level2.tolist() == [[0]]
    assert [(s.source, s.kernel) for s in pyramid.plan("avg", 2, (1, 2))] == [
        (0, (1, 2)),
        (0, (1, 4)),
    ]


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_level_is_the_input_pooled_by_the_compounded_window(mode: str) -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    for level, got in enumerate(pyramid.pyramid(x, mode, 3, 2), start=1):
        k = 2**level
        np.testing.assert_array_equal(got, pool(x, mode, kernel_size=k, stride=k))


def test_plan_chains_only_where_it_is_exact() -> None:
    assert [s.source for s in pyramid.plan("max", 3)] == [0, 1, 2]
    assert [s.source for s in pyramid.plan("min", 3, image_mode="RGBA")] == [0, 1, 2]
    for mode, image_mode in [("max", "P"), ("min", "HSV"), ("sum", None), ("median", None)]:
        assert [s.source for s in pyramid.plan(mode, 3, image_mode=image_mode)] == [0, 0, 0]
    assert [s.scale for s in pyramid.plan("max", 3, (1, 3))] == [(1, 3), (1, 9), (1, 27)]
    assert [s.scale for s in pyramid.plan("avg", 3, (1, 3))] == [(1, 3), (1, 9), (1, 27)]


def test_room_and_bad_arguments() -> None:
    assert pyramid.max_levels((1, 1)) == 0
    assert pyramid.max_levels((7, 9)) == 2
    assert pyramid.max_levels((8, 1000), (2, 3)) == 3
    with pytest.raises(WindowError, match="room for 2 levels at factor 2, not 3"):
        pyramid.pyramid(np.zeros((7, 9), np.uint8), "max", 3)
    for factor in (1, (1, 1), (0, 4)):
        with pytest.raises(WindowError, match="factor"):
            pyramid.plan("max", 2, factor)
    with pytest.raises(WindowError, match="levels"):
        pyramid.plan("max", 0)


def rgba_with_transparency(rng: np.random.Generator) -> Image.Image:
    a = rng.integers(0, 256, (27, 35, 4), dtype=np.uint8)
    a[..., 3] = rng.choice([0, 128, 255], (27, 35))
    return Image.fromarray(a, "RGBA")


def palette_image(rng: np.random.Generator) -> Image.Image:
    im = Image.fromarray(rng.integers(0, 6, (27, 35), dtype=np.uint8), "P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0, 90, 90, 90])
    return im


@pytest.mark.parametrize("kind", ["L", "RGBA", "P", "I;16"])
@pytest.mark.parametrize("mode", ["max", "min", "avg", "mode"])
def test_picture_levels_equal_pool_picture_with_the_compounded_window(kind: str, mode: str) -> None:
    rng = np.random.default_rng(3)
    if kind == "RGBA":
        im = rgba_with_transparency(rng)
    elif kind == "P":
        im = palette_image(rng)
    elif kind == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (27, 35), dtype=np.uint16))
    else:
        im = Image.fromarray(rng.integers(0, 256, (27, 35), dtype=np.uint8))
    pic = picture.Picture([im], "PNG", {"dpi": (300.0, 300.0)})
    levels = list(pyramid.pyramid_picture(pic, mode, 3, (2, 3)))
    assert [step.level for step, _ in levels] == [1, 2, 3]
    for step, got in levels:
        k = (2**step.level, 3**step.level)
        want = pooling.pool_picture(pic, mode, kernel_size=k, stride=k)
        assert got.mode == want.mode == im.mode
        np.testing.assert_array_equal(np.asarray(got.frames[0]), np.asarray(want.frames[0]))
        assert got.info["dpi"] == pytest.approx(want.info["dpi"])
        if got.mode == "P":
            assert got.frames[0].getpalette() == want.frames[0].getpalette()


def test_picture_without_room_fails_before_any_level() -> None:
    pic = picture.Picture([Image.new("RGB", (5, 3))])
    with pytest.raises(WindowError, match="a 3x5 image has room for 1 levels"):
        pyramid.pyramid_picture(pic, "max", 2)
