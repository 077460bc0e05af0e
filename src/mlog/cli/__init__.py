"""Typer command-line interface: parse, call ``mlog.api``, render. Nothing else."""
