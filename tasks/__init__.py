"""Prefect tasks: thin wrappers that bind the domain's stage functions to ids and paths.

Importing this package (the flow process, and every Dask worker when it unpickles a task) makes
Prefect's API clients share TLS contexts; see tasks/lean.py.
"""

from lvas.tasks.lean import reuse_api_tls_contexts

reuse_api_tls_contexts()
