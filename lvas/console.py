"""The ``lvas`` console script: ``lvas shots`` runs from lvas.shots_cli, every other command from
lvas.cli.

lvas.cli imports the settings (pydantic) of every command at its top; ``lvas shots`` needs none of
it, and on a short clip that import would be most of what a user waits for.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``lvas ARGS`` (``sys.argv[1:]`` when ``argv`` is None).

    Returns:
        The command's exit status. ``lvas shots`` from the console script (``argv`` None) ends the
        process itself once its output is flushed: see :func:`exit_now`.
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["shots"]:
        from lvas.shots_cli import keep_freed_memory
        from lvas.shots_cli import main as shots

        if argv is None:  # a process of its own: tune it (not a caller's, such as a test run)
            keep_freed_memory()
        code = shots(args[1:])
        if argv is None:
            exit_now(code)
        return code
    from lvas.cli import main as cli

    if argv is None:  # the process's own program: its status survives a late stop signal
        from lvas.stopping import exit_status

        return exit_status(lambda: cli(args))
    return cli(args)


def exit_now(code: int) -> None:
    """End the process with ``code`` once stdout and stderr are flushed, without the interpreter's
    teardown (freeing every module, numpy's and PyAV's included): ``lvas shots`` holds no other
    open file or exit handler, and a user waits for that teardown on every short clip. If a flush
    fails (a closed pipe), the normal exit reports it instead."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
