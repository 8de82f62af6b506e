"""Prefect tasks: thin wrappers that bind the domain's stage functions to ids and paths."""
