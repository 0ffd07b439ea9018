"""``python -m poolcli``."""

from poolcli.cli import main

main()
