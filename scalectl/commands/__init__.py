"""The commands, one module per group; scalectl/cli.py registers them on the Typer app."""
