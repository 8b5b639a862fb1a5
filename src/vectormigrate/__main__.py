"""``python -m vectormigrate``."""

from vectormigrate.cli import main

main()
