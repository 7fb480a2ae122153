"""The commands, one module per group; scalectl/cli.py lists them in COMMANDS and imports each on first use."""
