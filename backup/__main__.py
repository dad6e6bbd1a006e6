"""`python -m backup` runs the dashvault CLI."""

from backup.cli import main

main()
