"""``python -m poolcli``."""

from poolcli.entry import main

main()
