"""`python -m dashvault` runs the dashvault CLI."""

from dashvault.cli import main

main()
