"""report.py: records -> JSON lines, Rich tables and the single error line."""

import io
import json

import pytest
from rich.console import Console

from conftest import POOL_JSON_KEYS
from poolcli.cli import report
from poolcli.cli.report import InfoRecord, PoolRecord, Seconds


def ok_record(name: str = "a.png", **changes: object) -> PoolRecord:
    fields: dict = dict(
        output=name.replace(".png", "_max2.png"),
        input_shape=(5, 7, 3),
        output_shape=(2, 3, 3),
        image_mode="RGB",
        dtype="uint8",
        frames=1,
        mode="max",
        window="k2 s2",
        seconds=Seconds(0.25, 0.125, 0.5),
    )
    fields.update(changes)
    return PoolRecord(name, **fields)


def failed_record(name: str = "bad.png") -> PoolRecord:
    return PoolRecord(name, status="error", error="not an image", mode="max", window="k2 s2")


def render(table: object, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, no_color=True)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_json_line_has_the_documented_keys_and_plain_types() -> None:
    data = json.loads(report.json_line(ok_record()))
    assert set(data) >= POOL_JSON_KEYS
    assert data["input_shape"] == [5, 7, 3] and data["output_shape"] == [2, 3, 3]
    assert data["seconds"] == {"load": 0.25, "pool": 0.125, "save": 0.5}
    assert data["status"] == "ok" and data["error"] is None


def test_json_line_of_a_failure_keeps_unreached_stages_null() -> None:
    data = json.loads(report.json_line(failed_record()))
    assert data["status"] == "error" and data["error"] == "not an image"
    assert data["seconds"] == {"load": None, "pool": None, "save": None}
    assert data["output_shape"] is None


def test_json_line_is_one_line() -> None:
    assert "\n" not in report.json_line(ok_record("we\nird.png"))


def test_print_json_writes_stdout_only(capsys: pytest.CaptureFixture[str]) -> None:
    report.print_json(ok_record())
    captured = capsys.readouterr()
    assert json.loads(captured.out)["input"] == "a.png"
    assert captured.err == ""


def test_print_error_is_one_line_on_stderr_even_when_long(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "a/very/long/" * 20 + "name [red].png"
    report.print_error(name, "cannot identify image file " + "x" * 100)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err == f"poolcli: error: {name}: cannot identify image file {'x' * 100}\n"


def test_print_error_colour_follows_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    report.print_error("a.png", "boom")
    assert "\x1b[31m" in capsys.readouterr().err
    monkeypatch.setenv("NO_COLOR", "1")
    report.print_error("a.png", "boom")
    assert "\x1b[" not in capsys.readouterr().err


def test_shape_text() -> None:
    assert report.shape_text((480, 640, 3)) == "480x640x3"
    assert report.shape_text(None) == ""


def test_pool_table_rows_and_no_total_for_one_input() -> None:
    text = render(report.pool_table([ok_record()]))
    assert "a_max2.png" in text and "5x7x3" in text and "2x3x3" in text
    assert "0.250" in text and "0.125" in text and "0.500" in text
    assert "inputs" not in text  # no summary row for a single input


def test_pool_table_total_row_counts_failures_and_sums_seconds() -> None:
    records = [ok_record("a.png"), ok_record("b.png"), failed_record()]
    text = render(report.pool_table(records))
    assert "3 inputs" in text and "2 ok, 1 failed" in text
    assert "0.500" in text and "0.250" in text and "1.000" in text  # load, pool, save totals
    assert text.count("failed") == 2  # the failed row and the total


def test_info_table_shows_the_window_and_its_result() -> None:
    records = [
        InfoRecord(
            "a.png",
            format="PNG",
            frames=1,
            input_shape=(5, 7, 3),
            image_mode="RGB",
            dtype="uint8",
            window="k2 s2",
            output_shape=(2, 3, 3),
        ),
        InfoRecord(
            "tiny.png",
            format="PNG",
            frames=1,
            input_shape=(1, 1, 1),
            image_mode="L",
            dtype="uint8",
            window="k2 s2",
            window_error="window 2 is larger",
        ),
        InfoRecord("bad.png", status="error", error="not an image", window="k2 s2"),
    ]
    text = render(report.info_table(records))
    assert "pooled (k2 s2)" in text
    assert "2x3x3" in text and "window 2 is larger" in text and "failed" in text


QUIET_RUN = """
import sys
from poolcli.cli import main
sys.argv = ["poolcli", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    print(done.code, "rich" in sys.modules)
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_quiet_run_that_fails_nowhere_never_imports_rich(tmp_path, jobs: str) -> None:
    """Rich is ~15 ms of start-up: only drawing (a table, a bar, an error line) imports it."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    (tmp_path / "in").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(tmp_path / "in" / f"{i}.png")
    base = [sys.executable, "-c", QUIET_RUN, "max"]
    one = [*base, str(tmp_path / "in" / "0.png"), "-o", str(tmp_path / "one.png"), "-q"]
    batch = [*base, str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"), "-j", jobs, "-q"]
    for args in (one, batch):
        done = subprocess.run(args, capture_output=True, text=True, check=True)
        assert done.stdout.split() == ["0", "False"], done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{i}_max2.png" for i in range(3)
    ]
    (tmp_path / "in" / "bad.png").write_bytes(b"not a png")
    done = subprocess.run([*batch, "--force"], capture_output=True, text=True)
    assert done.stdout.split() == ["1", "True"]
    assert done.stderr.count("poolcli: error:") == 1 and "bad.png" in done.stderr


def test_progress_draws_on_a_terminal_only(monkeypatch, capsys) -> None:
    with report.progress(3) as advance:  # captured stderr is not a terminal: nothing drawn
        advance()
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    with report.progress(3, enabled=False) as advance:
        advance()
    assert capsys.readouterr().err == ""
    with report.progress(3) as advance:
        for _ in range(3):
            advance()
    drawn = capsys.readouterr().err
    assert "pooling" in drawn and "3/3" in drawn and "files/s" in drawn


def test_tally_keeps_counts_first_failures_and_notes_not_every_record() -> None:
    tally = report.Tally()
    for i in range(60):
        if i % 4 == 3:
            tally.add(failed_record(f"bad{i}.png"))
        else:
            tally.add(ok_record(f"a{i}.png", note="written as PNG" if i % 2 else None))
        assert (tally.kept is None) == (i + 1 > report.TABLE_MAX_ROWS)
    assert (tally.finished, tally.ok, tally.skipped, tally.failed) == (60, 45, 0, 15)
    assert tally.failed_names == [f"bad{i}.png" for i in range(3, 43, 4)]  # the first ten
    assert tally.notes == {"written as PNG": ["a1.png", 15]}
    line = report.summary_line(tally, 61)
    assert line.startswith("poolcli: 61 inputs: 45 ok, 15 failed, 1 not done; failed: bad3.png")
    assert line.endswith("bad39.png and 5 more")
