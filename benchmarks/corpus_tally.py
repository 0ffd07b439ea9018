"""How many of the files Pillow decodes does ``poolcli max -r`` pool? (issue 14's corpus tally)

Run by hand, from the repository root (about 15 s on two cores)::

    python benchmarks/corpus_tally.py [../shared/corpus/pillow-test-images] [-- --ceil]

A file counts as decodable when ``Image.open`` and ``load`` of its first frame succeed; the run
is ``poolcli max -r CORPUS --stride 2 --out-dir TMP --json -j 2`` (plus any options after
``--``), and a file counts as pooled when its JSON line says ``ok``. Prints the tally and the
causes of the rest.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from PIL import Image


def decodable(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    im.load()
        except Exception:  # noqa: BLE001 - any failure means Pillow does not decode it
            continue
        found.append(os.path.relpath(path, root))
    return found


def main() -> None:
    args = sys.argv[1:]
    extra = args[args.index("--") + 1 :] if "--" in args else []
    args = args[: args.index("--")] if "--" in args else args
    root = Path(args[0] if args else "../shared/corpus/pillow-test-images").resolve()
    good = decodable(root)
    with tempfile.TemporaryDirectory() as out:
        command = ["poolcli", "max", "-r", str(root), "--stride", "2", "--out-dir", out]
        command += ["--json", "-j", "2", *extra]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
    records = {}
    for line in run.stdout.splitlines():
        r = json.loads(line)
        records[os.path.relpath(os.path.realpath(r["input"]), root)] = r
    ok = [k for k in good if records.get(k, {}).get("status") == "ok"]
    share = 100 * len(ok) / len(good)
    print(f"{' '.join(command[:2] + command[2:])}".replace(out, "OUT"))
    print(f"pooled {len(ok)} of {len(good)} files Pillow decodes ({share:.1f}%)")
    causes: collections.Counter[str] = collections.Counter()
    for k in good:
        r = records.get(k)
        why = "not taken from the folder" if r is None else r.get("error") or ""
        if r is None or r["status"] != "ok":
            causes[re.sub(r"\d+", "N", why)[:100]] += 1
    for why, n in causes.most_common():
        print(f"{n:5d}  {why}")


if __name__ == "__main__":
    main()
