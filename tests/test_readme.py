"""The README's set-up commands are the ones CI runs, and its first one works."""

import shlex
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def setup_commands() -> list[str]:
    block = README.split("## Set-up: two commands", 1)[1].split("```sh\n", 1)[1].split("```")[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_two_setup_commands_and_ci_runs_the_second() -> None:
    commands = setup_commands()
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()
    assert "pytest" in commands[1]


def test_first_setup_command_pools_the_sample(tmp_path: Path) -> None:
    # The part after the install, run with this interpreter's poolcli in a scratch folder.
    first = setup_commands()[0]
    job = first.split("&& poolcli ", 1)[1]
    args = shlex.split(job)
    sample = ROOT / args[1]
    assert sample.exists()
    args[1] = str(sample)
    proc = subprocess.run(
        [sys.executable, "-m", "poolcli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out" / "astronaut_max2.png"
    with Image.open(sample) as src, Image.open(out) as got:
        assert got.size == (src.width // 2, src.height // 2)
        assert got.mode == src.mode
    assert "512x512x3" in proc.stderr and "256x256x3" in proc.stderr  # the table on stderr


def test_python_examples_written_as_doctests_run() -> None:
    """Every ```python block of the README written as a doctest (``>>>`` lines) runs, in order,
    in one namespace, and prints what the README says."""
    import doctest
    import os

    blocks = [b.split("```", 1)[0] for b in README.split("```python\n")[1:]]
    session = "".join(b for b in blocks if b.lstrip().startswith(">>>"))
    assert 'poolcli.pool(labels, "sparse"' in session  # the Signals and volumes examples
    test = doctest.DocTestParser().get_doctest(session, {}, "README.md", str(ROOT / "README.md"), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        runner.run(test, out=report.append)
    finally:
        os.chdir(cwd)
    assert runner.failures == 0, "".join(report)
