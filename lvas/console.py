"""The ``lvas`` console script: ``lvas shots`` runs from lvas.shots_cli, every other command from
lvas.cli.

lvas.cli imports the settings (pydantic) of every command at its top; ``lvas shots`` needs none of
it, and on a short clip that import would be most of what a user waits for.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``lvas ARGS`` (``sys.argv[1:]`` when ``argv`` is None).

    Returns:
        The command's exit status.
    """
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["shots"]:
        from lvas.shots_cli import main as shots

        return shots(args[1:])
    from lvas.cli import main as cli

    return cli(args)


if __name__ == "__main__":
    sys.exit(main())
