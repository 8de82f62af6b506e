"""The ``lvas`` command. Builds Settings from flags and LVAS_* env vars, and calls the flows.

Prefect and Dask are imported only by the subcommands that run flows, so ``lvas shots``,
``lvas status`` and ``lvas kb query`` start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from lvas import shots_cli
from lvas.errors import LvasError
from lvas.registry import AGENTS, STAGES, SYNTHS
from lvas.settings import Settings, redact, redact_url
from lvas.stopping import Terminated, stop_signals_stop_the_run, stops_are_not_swallowed
from lvas.text import printable

EPILOG = textwrap.dedent("""\
    examples:
      lvas dub clips/ --out out/                 dub every video under clips/ (offline backends)
      lvas dub 'raw/**/*.mp4' list.csv --out out  globs and manifests (.csv/.parquet with a path column)
      lvas status out/                            per-video state, top errors, throughput
      lvas rerun out/ --failed                    redo only what failed; the rest comes from cache
      lvas shots clip.mp4 --json                  shot cuts of one video, no orchestration
      lvas kb query "rain on a tin roof" -k 5     look up sound labels
      lvas library index /sfx                     index recorded effects for --synth library

    real backends are configuration (flags below or env vars, LVAS_<SECTION>__<FIELD>):
      LVAS_AGENTS__BACKEND=openai LVAS_AGENTS__BASE_URL=http://127.0.0.1:8000/v1 OPENAI_API_KEY=...
      LVAS_SYNTH__BACKEND=mmaudio LVAS_SYNTH__WEIGHTS_DIR=/models/mmaudio   (GPU workers)
      PREFECT_API_URL=http://127.0.0.1:4200/api  --dask-address tcp://host:8786
      LVAS_KB__CHROMA_URL=http://host:8000

    task granularity (videos share a task when there are many; long scenes get a render task each):
      LVAS_RUN__BATCH_VIDEOS=16 (most videos per task)  LVAS_RUN__RENDER_GROUP_S=60 (seconds per render task)
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

    r = sub.add_parser(
        "rerun", help="rerun what failed, or the named videos/scenes, of an output folder (lvas dub or compose)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              lvas rerun out/ --failed              videos (or compositions) that failed or did not finish
              lvas rerun out/ --video ID --scene 3  one scene of a dubbed video: design, render, the mix
              lvas rerun out/ --video COMPOSITION   one composition of `lvas compose`, planned and mixed again

            A folder of `lvas compose` reruns its compositions, with the settings its last compose run
            recorded; a folder holding both reruns its videos (and names the compositions not done),
            or the compositions named by --video.
        """))
    r.add_argument("out", metavar="DIR")
    r.add_argument("--failed", action="store_true",
                   help="every video or composition that failed or did not finish (the default)")
    r.add_argument("--video", action="append", default=[], metavar="ID",
                   help="this video, or composition, redone on purpose (repeatable)")
    r.add_argument("--scene", type=int, action="append", default=[], metavar="N",
                   help="only this scene of --video (repeatable; videos only): its design, render and the "
                        "video's mix")
    _run_flags(r)

    s = sub.add_parser("status", help="per-video state, errors, top errors and throughput of an output folder")
    s.add_argument("out", metavar="DIR")
    s.add_argument("--json", action="store_true", help="a JSON list of per-video objects")
    s.add_argument("--failed", action="store_true", help="only failed videos")
    s.add_argument("--verify", action="store_true",
                   help="first check every finished artifact against the size and hash its marker recorded; "
                        "what does not match is marked failed, for `lvas rerun DIR --failed` (takes the run lock)")

    sh = sub.add_parser("show", help="the videos and compositions of an output folder; one video's scenes (times, "
                        "captions, labels) or one composition's plan (segments, events)")
    sh.add_argument("out", metavar="DIR")
    sh.add_argument("video_id", metavar="ID", nargs="?",
                    help="a video or composition id (without it: list the videos and compositions)")
    sh.add_argument("--json", action="store_true")

    shots_cli.add_arguments(sub.add_parser("shots", help=shots_cli.HELP, epilog=shots_cli.EPILOG,
                                           formatter_class=argparse.RawDescriptionHelpFormatter))

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
    kb_q.add_argument("--out", metavar="DIR",
                      help="output folder whose kb/ holds the store (default: a per-user store in LVAS_CACHE_DIR)")
    kb_q.add_argument("--json", action="store_true")
    for k in (kb_b, kb_q):
        k.add_argument("--chroma-url", metavar="URL", help="Chroma server instead of the local store")
    _compose_parser(sub)
    _library_parser(sub)
    _eval_parser(sub)
    _ablation_flags(d)
    _edit_parser(sub)
    return p


def _eval_parser(sub: Any) -> None:
    e = sub.add_parser(
        "eval", help="score the dubbed videos of output folders side by side (OUT/eval/: table, page)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              lvas eval out/                                  one system
              lvas eval out/cmp --systems out/full out/fixed-window out/no-rag --reference bench.jsonl
              lvas eval out/ --reference refs/ --avbench /opt/av-benchmark   (+ FD, KL, IS, IB, DeSync; GPU)

            On the CPU: duration match, loudness and true peak, coverage, onset synchrony with the
            picture's motion, onset ACC/AP against reference audio, speech/music leaks. The model
            metrics run av-benchmark's own commands on a GPU machine with its weights in local folders.
        """))
    e.add_argument("out", metavar="OUT", help="where eval/ is written; also a system when it is an lvas output folder")
    e.add_argument("--systems", nargs="+", default=[], metavar="DIR", help="more output folders of the same inputs")
    e.add_argument("--reference", metavar="REF",
                   help="reference audio: a folder of <video stem>.wav/.flac, or an evaluation manifest")
    e.add_argument("--avbench", metavar="DIR", default=os.environ.get("LVAS_EVAL_AVBENCH_DIR"),
                   help="av-benchmark checkout with weights/ (default: LVAS_EVAL_AVBENCH_DIR); needs a GPU")
    e.add_argument("--avbench-python", metavar="PYTHON", default=os.environ.get("LVAS_EVAL_AVBENCH_PYTHON", "python3"),
                   help="the interpreter of av-benchmark's environment (default python3 on PATH)")
    e.add_argument("--weights", metavar="DIR", help="model caches for av-benchmark (TORCH_HOME/HF_HOME live here; "
                   "default: the checkout's weights/)")
    e.add_argument("--json", action="store_true", help="print summary.json instead of the table")
    ds = sub.add_parser("dataset", help="turn an LVAS-Bench-style manifest into sidecar captions and a dub manifest")
    ds.add_argument("manifest", metavar="MANIFEST", help=".jsonl/.json/.csv items: video, audio, global, annotations")
    ds.add_argument("--out", required=True, metavar="DIR", help="folder for <stem>.captions.json and dub.csv")


def _ablation_flags(p: argparse.ArgumentParser) -> None:
    a = p.add_argument_group("baselines and ablations (LVAS-Agent Tables 1-2; recorded in settings.json)")
    a.add_argument("--baseline", choices=("fixed-window",), help="no agents: fixed windows, each rendered from a "
                   "generic prompt with the configured synthesizer, concatenated")
    a.add_argument("--no-structure", action="store_true", default=None,
                   help="no shot/scene structure: the video cut into fixed windows, one scene each")
    a.add_argument("--no-cot", action="store_true", default=None, help="the Designer without step-by-step reasoning")
    a.add_argument("--no-rag", action="store_true", default=None, help="labels chosen without knowledge-base retrieval")
    a.add_argument("--no-reflect", action="store_true", default=None,
                   help="no reflection loop (LVAS_REFLECT__ENABLED=false)")


def _edit_parser(sub: Any) -> None:
    e = sub.add_parser(
        "edit", help="edit a dubbed video's soundtrack in turns: add, remove, replace, move, louder/quieter, "
        "regenerate; undo", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              lvas edit out/ VIDEO_ID "make the rain in scene 2 quieter and add a dog bark at 12.5 s"
              lvas edit out/ VIDEO_ID --file ops.json      ({"ops": [{"op": "gain", "target": {...}, ...}]})
              lvas edit out/ VIDEO_ID --undo               (the last turn, byte for byte)

            Offline, requests follow a small grammar (see lvas/edits.py); with
            LVAS_AGENTS__BACKEND=openai a model turns the request into operations. Only the
            scenes an edit touches re-render; each turn is kept in videos/<id>/edits.parquet.
        """))
    e.add_argument("out", metavar="DIR", help="the output folder the video was dubbed into")
    e.add_argument("video_id", metavar="VIDEO_ID", help="the video (lvas show DIR lists the ids)")
    e.add_argument("request", nargs="?", metavar="REQUEST", help="what to change, in words")
    how = e.add_mutually_exclusive_group()
    how.add_argument("--file", metavar="OPS_JSON", help="apply the operations in this JSON file")
    how.add_argument("--undo", action="store_true", help="undo the last turn")


def _llm_edit_ops(layout: Any, row: dict[str, Any], args: argparse.Namespace, settings: Settings) -> list[Any]:
    """The request turned into operations by the agents' LLM (validated as data)."""
    from lvas.agents.artifacts import load_script
    from lvas.backends.llm import OpenAIBackend, user_message
    from lvas.edits import llm_request_ops
    from lvas.models import VideoRef
    from lvas.pipeline import video_events
    from lvas.storyboard import load_storyboard

    video = VideoRef(source=row.get("source") or row["path"], path=row["path"], video_id=args.video_id,
                     captions_path=row.get("captions_path"))
    spans = [(sc.start_s, sc.end_s) for sc in load_script(layout.script(args.video_id)).scenes]
    return llm_request_ops(OpenAIBackend(settings.agents), settings.agents.model, user_message, args.request,
                           video_events(layout, video, settings), spans,
                           load_storyboard(layout, args.video_id).info.duration_s)


def cmd_edit(args: argparse.Namespace) -> int:
    """``lvas edit``: one turn (a request or --file), or --undo, in this process under the folder's lock."""
    from lvas.edits import parse_ops, parse_request
    from lvas.errors import InputError
    from lvas.models import VideoRef
    from lvas.pipeline import edit_turn, undo_turn
    from lvas.storage.layout import Layout
    from lvas.storage.lock import RunLock
    from lvas.storage.runs import read_sources

    layout = Layout(args.out)
    row = next((r for r in read_sources(layout) if r["video_id"] == args.video_id), None)
    if row is None:
        raise InputError(f"no video {args.video_id!r} in {args.out} (lvas show {args.out} lists them)")
    if sum(bool(x) for x in (args.request, args.file, args.undo)) != 1:
        raise InputError("give one of: a REQUEST, --file OPS_JSON, --undo")
    settings = saved_settings(layout.root) or Settings()
    with RunLock(layout.lock()):
        if args.undo:
            print(f"lvas: undid turn {undo_turn(layout, args.video_id)} of {args.video_id}")
            return 0
        from lvas.backends.library_state import with_library_state

        settings = with_library_state(settings)  # a turn's renders use the library as it is indexed now
        if args.file:
            try:
                data = json.loads(Path(args.file).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(f"{args.file}: not a readable JSON file ({exc})") from None
            ops, request = parse_ops(data), f"--file {args.file}"
        elif settings.agents.backend == "openai":
            ops, request = _llm_edit_ops(layout, row, args, settings), args.request
        else:
            ops, request = parse_request(args.request), args.request
        video = VideoRef(source=row.get("source") or row["path"], path=row["path"], video_id=args.video_id,
                         captions_path=row.get("captions_path"))
        result = edit_turn(layout, video, ops, request, settings)
    rendered = ", ".join(map(str, result["rendered"])) or "none (all from the cache)"
    print(f"lvas: turn {result['turn']} of {args.video_id}: {len(ops)} operation(s); scenes re-rendered: "
          f"{rendered}; {result['mix'].get('dubbed', '')}")
    return 0


def _compose_parser(sub: Any) -> None:
    c = sub.add_parser(
        "compose", help="long-form audio from instructions, no video (plan, render, mix on Prefect + Dask)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              lvas compose "rain on a tin roof, then thunder, then birds at dawn" --duration 120 --out out/
              lvas compose --manifest prompts.csv --out out/   (instruction[, duration_s] columns; .csv/.parquet/.jsonl)

            Offline, the planner reads the instruction's words (see lvas/compose.py); with
            LVAS_AGENTS__BACKEND=openai a model plans the segments. Rerun the same command to do
            only what is new, changed or failed, or `lvas rerun DIR` (failed and unfinished ones);
            `lvas status DIR` and `lvas show DIR [ID]` show each composition.
        """))
    c.add_argument("instructions", nargs="*", metavar="INSTRUCTION", help="what to compose (one job each)")
    c.add_argument("--manifest", action="append", default=[], metavar="FILE",
                   help="a .csv/.parquet/.jsonl with an instruction column and optionally duration_s (repeatable)")
    c.add_argument("--duration", type=float, default=60.0, metavar="SECONDS",
                   help="length of each composition (default 60; a manifest's duration_s wins)")
    c.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _run_flags(c)


def _library_parser(sub: Any) -> None:
    lib = sub.add_parser("library", help="the sound library that `--synth library` places recordings from")
    acts = lib.add_subparsers(dest="library_cmd", required=True, metavar="ACTION")
    ix = acts.add_parser("index", help="index folders of WAV/FLAC/OGG/MP3; a re-index reads only new and "
                         "changed files and drops removed ones")
    ix.add_argument("paths", nargs="*", metavar="PATH", help="folders or files (default: LVAS_SYNTH__LIBRARY_DIR)")
    ix.add_argument("--installed", action="store_true",
                    help="also the freely licensed sets installed on this machine (`make setup` installs them)")
    q = acts.add_parser("query", help="the recordings closest to a description")
    q.add_argument("text")
    q.add_argument("-k", type=int, default=8)
    for a in (ix, q):
        a.add_argument("--index", metavar="DIR|URL",
                       help="where the index is (default: LVAS_SYNTH__LIBRARY_INDEX, else LVAS_CACHE_DIR/library)")
        a.add_argument("--json", action="store_true")


def _run_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where it runs")
    g.add_argument("--dask-address", metavar="ADDR", help="existing Dask scheduler (default: a local cluster)")
    g.add_argument("--workers", type=int, metavar="N", help="local Dask worker processes (default 2)")
    g.add_argument("--gpu-workers", type=int, metavar="N", help="local workers declaring a GPU resource")
    b = p.add_argument_group("backends (see also LVAS_* env vars)")
    b.add_argument("--agents", choices=list(AGENTS), help="agent backend (default offline): "
                   + "; ".join(f"{a.name}: {a.summary}" for a in AGENTS.values()))
    b.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint for the agents")
    b.add_argument("--synth", choices=list(SYNTHS), help="audio backend (default procedural): "
                   + "; ".join(f"{b.name}: {b.summary}" for b in SYNTHS.values()))
    b.add_argument("--chroma-url", metavar="URL", help="Chroma server (default: a store in DIR/kb)")
    b.add_argument("--keep-original-audio", action="store_true", default=None,
                   help="the same as --original-audio keep")
    b.add_argument("--original-audio", choices=["drop", "keep", "clean"], default=None,
                   help="a video's own track: drop it (default), keep it as a second stream, or clean it "
                        "(denoise) and mix it in, the new sound ducked under it")
    p.add_argument("-v", "--verbose", action="store_true", help="show Prefect and Dask logs on the terminal")
    p.add_argument("--verify", action="store_true",
                   help="check finished artifacts by content hash before the run, not only by size, and redo "
                        "what does not match")


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """Flags override env vars, which override ``base`` (a rerun's saved settings) or the defaults."""
    base = base or Settings()
    data: dict[str, Any] = base.model_dump()  # not JSON: that form hides the endpoints' credentials
    over = {
        ("run", "dask_address"): args.dask_address, ("run", "workers"): args.workers,
        ("run", "gpu_workers"): args.gpu_workers, ("agents", "backend"): args.agents,
        ("agents", "base_url"): args.base_url, ("synth", "backend"): args.synth,
        ("kb", "chroma_url"): args.chroma_url,
        ("mix", "original_audio"): getattr(args, "original_audio", None)
        or ("keep" if args.keep_original_audio else None),
        # baselines and ablations (only `lvas dub` has these flags)
        ("agents", "baseline"): getattr(args, "baseline", None),
        ("agents", "structure"): False if getattr(args, "no_structure", None) else None,
        ("agents", "cot"): False if getattr(args, "no_cot", None) else None,
        ("agents", "rag"): False if getattr(args, "no_rag", None) else None,
        ("reflect", "enabled"): False if getattr(args, "no_reflect", None) else None,
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
    todo, total = plan_run(sources, out, settings, only)
    if not todo:
        print(f"lvas: {total} video{'s' if total != 1 else ''} already done, nothing to do "
              f"(`lvas status {out}` for details)")
        return 0
    from lvas.flows.runtime import orchestration, task_runner
    from lvas.storage.progress import ProgressPrinter

    if not args.verbose:
        # The terminal shows lvas's own progress, summary and failures; Prefect's run logs go to the
        # API alone, where the UI shows them with each flow and task run (inherited by the workers).
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    print(f"lvas: {len(todo)} of {total} videos to dub; starting Prefect and Dask "
          f"(agents={settings.agents.backend}, synth={settings.synth.backend}) ...", file=sys.stderr)

    def warm(address: str) -> None:
        from lvas.tasks.warm import warm_cluster

        warm_cluster(address, settings, out)

    # a stop caught inside the run (by Prefect's engine) still stops it; the teardown is outside
    with orchestration(settings.run, warm=warm) as (api, address), stops_are_not_swallowed():
        from lvas.flows.dub import dub_dataset

        print(f"lvas: Prefect API {redact_url(api)}, Dask scheduler {address}", file=sys.stderr)
        flow = dub_dataset.with_options(task_runner=task_runner(address),
                                        flow_run_name=f"dub {out}: {len(todo)} video{'s' if len(todo) != 1 else ''}")
        with ProgressPrinter(out, final_stage=settings.run.stages[-1]):
            state = flow(sources, out, settings, [v.video_id for v in todo], return_state=True)
    print(f"lvas: {state.message or state.name}")
    from lvas.storage.progress import status_report

    with contextlib.suppress(LvasError):  # no status at all: the run had no video to start
        for v in status_report(out, failed_only=True)["videos"]:
            print(printable(f"  failed: {v['source']}: {v['error']}"))
    if state.is_completed():
        print(f"lvas: outputs under {Path(out) / 'videos'}; `lvas status {out}` for details")
        return 0
    print(f"lvas: `lvas rerun {out} --failed` redoes what failed or did not finish, and nothing else")
    return 1


def compose_jobs(args: argparse.Namespace, settings: Settings) -> tuple[list[Any], list[str]]:
    """The jobs of ``lvas compose``'s arguments and manifests, and a problem per bad item (by name).

    Raises:
        LvasError: no valid job at all (the message lists every problem).
    """
    from lvas.compose import make_job, read_manifest

    jobs, problems = [], []
    for n, text in enumerate(args.instructions, start=1):
        try:
            jobs.append(make_job(text, args.duration, settings.compose, f"instruction {n}"))
        except LvasError as exc:
            problems.append(str(exc))
    for path in args.manifest:
        found, bad = read_manifest(path, args.duration, settings.compose)
        jobs += found
        problems += bad
    if not jobs:
        raise LvasError("nothing to compose: " + ("; ".join(problems) or "give an INSTRUCTION or --manifest"))
    return list({j.job_id: j for j in jobs}.values()), problems


def cmd_compose(args: argparse.Namespace) -> int:
    """``lvas compose``: the compose flow on the embedded (or given) Prefect server and Dask cluster."""
    from lvas.backends.library_state import with_library_state

    settings = with_library_state(settings_from_args(args))  # no usable library: said before start-up
    jobs, problems = compose_jobs(args, settings)
    for problem in problems:
        print(f"lvas: skipped: {problem}", file=sys.stderr)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return run_compose(args, jobs, settings, problems)


def run_compose(args: argparse.Namespace, jobs: list[Any], settings: Settings, problems: list[str]) -> int:
    """Run the compose flow over ``jobs`` into ``args.out``; print its summary.

    Returns:
        0 when every job is done and no item was skipped (``problems`` empty), else 1.
    """
    from lvas.flows.runtime import orchestration, task_runner
    from lvas.storage.progress import ProgressPrinter

    if not args.verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    print(f"lvas: composing {len(jobs)} (agents={settings.agents.backend}, synth={settings.synth.backend}) ...",
          file=sys.stderr)
    with orchestration(settings.run) as (api, address), stops_are_not_swallowed():
        from lvas.flows.compose import compose_dataset

        print(f"lvas: Prefect API {redact_url(api)}, Dask scheduler {address}", file=sys.stderr)
        flow = compose_dataset.with_options(task_runner=task_runner(address),
                                            flow_run_name=f"compose {args.out}: {len(jobs)} composition"
                                                          f"{'s' if len(jobs) != 1 else ''}")
        with ProgressPrinter(args.out, final_stage="mix"):
            state = flow(jobs, args.out, settings, return_state=True)
    print(f"lvas: {state.message or state.name}")
    if state.is_completed() and not problems:
        print(f"lvas: outputs under {Path(args.out) / 'videos'}")
        return 0
    print(f"lvas: `lvas rerun {args.out}` redoes what failed or did not finish; `lvas status {args.out}` "
          "for details")
    return 1


def cmd_rerun_compositions(args: argparse.Namespace) -> int | None:
    """``lvas rerun`` on a folder of ``lvas compose``: its failed or unfinished compositions, or those
    named by ``--video``, with the settings its last compose run recorded (flags override them).

    Returns:
        The exit status, or None when ``args.out`` is not a composition rerun: no composition
        recorded there, or a folder that also holds dubbed videos and no composition is named.

    Raises:
        InputError: ``--scene`` for a composition, videos and compositions named together, an
            unknown composition id.
        RunLocked: another run holds the folder.
        BackendUnavailable: ``--synth library`` without a usable sound library index.
    """
    from lvas.compose import recorded_jobs
    from lvas.errors import InputError
    from lvas.storage.layout import Layout
    from lvas.storage.rerun import plan_compose_rerun, unfinished_compositions

    layout = Layout(args.out)
    jobs = {j.job_id: j for j in recorded_jobs(layout)}
    named = [v for v in args.video if v in jobs]
    if not jobs and not layout.sources().exists() and any(layout.root.glob("videos/*/plan.parquet")):
        raise InputError(f"{args.out}: its compositions were made before lvas recorded them; run the same "
                         "`lvas compose` command again (it redoes only what failed or did not finish)")
    if not jobs:
        return None
    if layout.sources().exists() and not named:  # the videos' rerun; say what it leaves
        left = unfinished_compositions(layout) if not args.video else []
        if left:
            shown = ", ".join(left[:10]) + (", ..." if len(left) > 10 else "")
            print(f"lvas: {len(left)} composition(s) here not done, not rerun with the videos: "
                  f"{shown} (`lvas rerun {args.out} --video ID` reruns one)", file=sys.stderr)
        return None
    if named and len(named) != len(args.video):
        raise InputError("compositions and videos are rerun apart: name the compositions "
                         f"({', '.join(named)}) in one `lvas rerun` and the videos in another")
    if args.scene:
        raise InputError("--scene names a scene of a dubbed video; a composition is planned, rendered and mixed "
                         "as a whole (`--video ID` redoes one)")
    from lvas.backends.library_state import with_library_state

    # no usable library: said before start-up, and before any marker is cleared
    settings = with_library_state(settings_from_args(args, saved_settings(layout.root,
                                                                          layout.compose_settings().name)))
    plan = plan_compose_rerun(layout, failed=args.failed or not args.video, ids=args.video)
    if not plan:
        print("lvas: nothing to rerun (every composition is done)")
        return 0
    print(f"lvas: rerunning {len(plan)} composition(s): {', '.join(plan)}")
    return run_compose(args, [jobs[i] for i in plan], settings, [])


def plan_run(sources: list[str], out: str, settings: Settings, only: list[str] | None = None):  # type: ignore[no-untyped-def]
    """What makes a run pointless or impossible, said before Prefect and Dask start: no source
    gives a video, the output folder cannot be written or another run holds it. A source that gives
    nothing beside others that do is named on the terminal.

    Returns:
        (the videos still to do, how many videos the sources give).

    Raises:
        InputError: nothing to dub, or the output folder cannot be written.
        RunLocked: another lvas run is writing to the output folder.
        BackendUnavailable: ``--synth library`` without a usable sound library index.
    """
    import tempfile

    from lvas import pipeline
    from lvas.discover import discover
    from lvas.errors import InputError
    from lvas.storage.layout import Layout
    from lvas.storage.lock import RunLock

    RunLock.check(Layout(out).lock())  # another run holds the folder: refused now, before any start-up
    found = discover(sources)
    # a named file that is missing fails alone, in the run, beside videos that exist
    problems = found.problems + [f"{v.source}: no such file" for v in found.videos if not Path(v.path).exists()]
    if len(problems) - len(found.problems) == len(found.videos):
        raise InputError("nothing to dub: " + ("; ".join(problems) or "no video in " + " ".join(sources)))
    for problem in problems:  # the run goes on with the other sources
        print(f"lvas: input problem: {problem}", file=sys.stderr)
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise InputError(f"{out}: cannot write the output folder here ({exc.strerror or exc})") from None
    layout = Layout(out)
    videos = [v for v in found.videos if only is None or v.video_id in only]
    if "render" in settings.run.stages:  # a re-indexed library makes finished videos unfinished
        from lvas.backends.library_state import with_library_state

        settings = with_library_state(settings)
    todo = [v for v in videos if not pipeline.is_finished(layout, v, settings)]
    return todo, len(videos)


def saved_settings(root: Path, name: str = "settings.json") -> Settings | None:
    """The settings of the run that wrote ``root`` (what a rerun must compute the same way), less
    where it ran: that run's Dask scheduler may be long gone, so a rerun uses a local cluster
    unless ``--dask-address`` or ``LVAS_RUN__DASK_ADDRESS`` names one. ``name``: the file under
    ``root`` (``compose-settings.json`` for ``lvas compose``'s runs)."""
    saved = root / name
    if not saved.exists():
        return None
    data = json.loads(saved.read_text())
    data.get("run", {}).pop("dask_address", None)
    # settings.json holds endpoint URLs without their credentials: the same URLs configured now
    # (env vars) give them back
    from lvas.settings import redact_url

    now = Settings()
    for section, name in (("agents", "base_url"), ("kb", "chroma_url")):
        live = getattr(getattr(now, section), name)
        if live and redact_url(live) == data.get(section, {}).get(name):
            data[section][name] = live
    return Settings(**data)


def cmd_rerun(args: argparse.Namespace) -> int:
    from lvas.errors import InputError
    from lvas.storage.layout import Layout
    from lvas.storage.rerun import plan_rerun

    composed = cmd_rerun_compositions(args)  # a folder of `lvas compose` (None: not one)
    if composed is not None:
        return composed
    layout = Layout(args.out)
    if not (layout.root / "settings.json").is_file():
        raise InputError(f"{args.out}: no lvas run here (nothing to rerun)")
    settings = settings_from_args(args, saved_settings(layout.root))
    plan = plan_rerun(layout, failed=args.failed or not args.video, videos=args.video, scenes=args.scene)
    if not plan:
        print("lvas: nothing to rerun (no failed units)" if not args.video else "lvas: no such video")
        return 0
    print(f"lvas: rerunning {len(plan)} video(s): {', '.join(plan)}")
    return cmd_dub(args, [str(layout.sources())], args.out, settings, only=plan)


def cmd_status(args: argparse.Namespace) -> int:
    from lvas.storage.progress import status_report

    if args.verify:
        verify_artifacts(args.out)

    report = status_report(args.out, failed_only=args.failed)
    print(json.dumps(report["videos"], indent=2) if args.json else report["text"])
    return 0


def verify_artifacts(out: str) -> list[str]:
    """Check every completion marker of ``out`` against its artifacts' sizes and content hashes,
    holding the run lock; the units that do not match lose their marker and are recorded failed.

    Returns:
        One line per unit that did not match (also printed on stderr).

    Raises:
        RunLocked: a run is writing to ``out``.
    """
    from lvas.storage.layout import Layout
    from lvas.storage.lock import RunLock
    from lvas.storage.rerun import invalidate_broken

    layout = Layout(out)
    with RunLock(layout.lock()) as lock:
        broken = invalidate_broken(layout, lock, full=True)
    for line in broken:
        print(printable(f"lvas: damaged: {line}"), file=sys.stderr)
    verdict = (f"{len(broken)} unit(s) to redo: `lvas rerun {out} --failed` redoes them" if broken
               else "every finished artifact matches its marker")
    print(f"lvas: verified {out}: {verdict}", file=sys.stderr)
    return broken


def cmd_show(args: argparse.Namespace) -> int:
    from lvas.show import composition_table, folder_table, is_composition, scene_table

    if args.video_id is None:
        rows, text = folder_table(args.out)
    elif is_composition(args.out, args.video_id):
        rows, text = composition_table(args.out, args.video_id)
    else:
        rows, text = scene_table(args.out, args.video_id)
    print(json.dumps(rows, indent=2) if args.json else text)
    return 0


def cmd_shots(args: argparse.Namespace) -> int:
    """``lvas shots`` (the console script runs it from lvas.shots_cli without importing this module)."""
    return shots_cli.run(args)


def cmd_eval(args: argparse.Namespace) -> int:
    """``lvas eval``: score the systems' dubbed videos into OUT/eval/ (plain process, no Prefect)."""
    from lvas.eval import report
    from lvas.eval.avbench import AvBenchConfig
    from lvas.eval.evaluate import evaluate, load_reference, system_names
    from lvas.storage.layout import Layout

    roots = ([args.out] if Layout(args.out).sources().is_file() else []) + list(args.systems)
    if not roots:
        raise LvasError(f"{args.out}: not an lvas output folder, and no --systems to evaluate")
    reference, problems = load_reference(args.reference) if args.reference else (None, [])
    avbench = (AvBenchConfig(Path(args.avbench), args.avbench_python, Path(args.weights) if args.weights else None)
               if args.avbench else None)
    dest = Path(args.out) / "eval"
    ev = evaluate(system_names(roots), reference, avbench, work=dest / "avbench")
    ev.problems[:0] = problems
    written = report.write(ev, dest)
    for problem in ev.problems:
        print(printable(f"lvas: {problem}"), file=sys.stderr)
    print(written["json"].read_text() if args.json else written["markdown"].read_text().split("\n\n")[0])
    print(f"lvas: {len(ev.rows)} dubbed video(s) scored; open {written['html']}", file=sys.stderr)
    return 0 if ev.rows else 1


def cmd_dataset(args: argparse.Namespace) -> int:
    """``lvas dataset``: sidecar captions and a dub manifest from an evaluation manifest."""
    from lvas.eval.dataset import read_manifest, write_sidecars

    items, problems = read_manifest(args.manifest)
    for problem in problems:
        print(printable(f"lvas: {problem}"), file=sys.stderr)
    if not items:
        raise LvasError(f"{args.manifest}: no usable item")
    dub = write_sidecars(items, args.out)
    print(f"lvas: {len(items)} item(s); dub them with `lvas dub {dub} --out OUT`")
    return 0


def cmd_library(args: argparse.Namespace) -> int:
    from lvas.backends.sound_index import FREE_SETS, SoundIndex, installed_sets
    from lvas.errors import InputError

    synth = Settings().synth
    index = SoundIndex.open(args.index or synth.library_index)
    if args.library_cmd == "query":
        hits = index.query(args.text, k=args.k)
        rows = [{"score": round(h.score, 4), "path": h.path, "shape": h.shape, "duration_s": h.duration_s,
                 "license": h.meta.get("license", "")} for h in hits]
        print(json.dumps(rows, indent=2) if args.json else "\n".join(
            f"{r['score']:5.3f}  {r['shape']:8} {r['duration_s']:7.2f} s  {r['path']}" for r in rows) or "no recording")
        return 0
    paths = list(args.paths) or [p for p in (synth.library_dir or "").split(os.pathsep) if p]
    licenses: dict[str, tuple[str, str]] = {}
    if args.installed:
        found = installed_sets()
        if not found and not paths:
            raise InputError("none of the free sound sets is installed here; install one of: "
                             + "; ".join(f"{s.install} ({s.license})" for s in FREE_SETS))
        for s, folder in found:
            print(f"lvas: {s.name}: {folder} ({s.license}; {s.attribution})", file=sys.stderr)
            paths.append(str(folder))
            licenses[str(folder.resolve())] = (s.license, s.attribution)
    if not paths:
        raise InputError("nothing to index: name folders of recordings, set LVAS_SYNTH__LIBRARY_DIR, "
                         "or use --installed")
    report = index.index(paths, licenses=licenses)
    for problem in report.problems:
        print(f"lvas: skipped {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({**vars(report), "skipped": dict(report.skipped), "index": index.where}, indent=2))
    else:
        print(f"lvas: {report.text()} (index: {index.where})")
    return 0 if report.usable else 1


def cmd_kb(args: argparse.Namespace) -> int:
    from lvas.kb.store import LabelStore, format_hits, hits_to_json

    settings = Settings()
    if args.chroma_url:
        settings = settings.model_copy(update={"kb": settings.kb.model_copy(update={"chroma_url": args.chroma_url})})
    out = args.out
    if out is None:  # a lookup needs no output folder: the per-user store, built once
        from lvas.kb.model import vector_cache_dir

        out = vector_cache_dir()
    store = LabelStore.from_settings(settings.kb, out)
    if args.kb_cmd == "build":
        rebuilt = store.build(force=args.force)
        print(redact(f"lvas: label store {store!r} " + ("built" if rebuilt else "up to date (data unchanged)"),
                     settings))
        return 0
    if not store.is_built():
        store.build()
    hits = store.query(args.text, k=args.k, scenario=args.scenario, layer=args.layer)
    print(hits_to_json(hits) if args.json else format_hits(hits))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with stop_signals_stop_the_run():
            if args.cmd in ("dub", "rerun") and args.verify:
                verify_artifacts(args.out)
            if args.cmd == "dub":
                return cmd_dub(args, args.sources, args.out, settings_from_args(args))
            return {"rerun": cmd_rerun, "status": cmd_status, "show": cmd_show, "shots": cmd_shots,
                    "kb": cmd_kb, "compose": cmd_compose, "library": cmd_library,
                    "eval": cmd_eval, "dataset": cmd_dataset, "edit": cmd_edit}[args.cmd](args)
    except LvasError as exc:
        print(printable(redact(f"lvas: error: {exc}")), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        how, code = ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        print(f"lvas: {how}; finished units are kept, rerun the same command to go on", file=sys.stderr)
        return code


if __name__ == "__main__":
    from lvas.stopping import exit_status

    sys.exit(exit_status(main))
