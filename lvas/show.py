"""`lvas show DIR [ID]`: the videos and compositions of an output folder with their states; one
video's scenes with their captions and chosen sound labels, or one composition's plan (segments
with their story detail, events with their label, layer, times and gain)."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from lvas.errors import InputError
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.storage.runs import read_compositions
from lvas.text import printable


def scene_table(out: str, video_id: str) -> tuple[list[dict[str, Any]], str]:
    """Rows per scene (times, shots, caption, foreground/background labels, rounds, verdict) and a text table.

    Raises:
        InputError: ``out`` has no such video, or the video has no script yet.
    """
    from lvas.agents.artifacts import load_designs, load_script

    layout = Layout(out)
    if not layout.video_dir(video_id).exists() and not layout.status_dir(video_id).exists():
        raise InputError(f"no video {video_id} in {out} (`lvas show {out}` lists its videos and compositions)")
    if not layout.script(video_id).exists():
        raise InputError(f"{out}: video {video_id!r} has no script yet (see `lvas status {out}`)")
    script = load_script(layout.script(video_id))
    designs = {d.scene_index: d for d in load_designs(layout.design(video_id))} if layout.design(
        video_id).exists() else {}
    rows = []
    for sc in script.scenes:
        d = designs.get(sc.index)
        final = d.final if d else None
        rows.append({
            "scene": sc.index, "start_s": round(sc.start_s, 3), "end_s": round(sc.end_s, 3),
            "shots": sc.shot_indices, "summary": sc.caption.summary, "background": sc.caption.background,
            "entity": sc.caption.entity, "action": sc.caption.action,
            "foreground_labels": [i.label or i.description for i in final.audio] if final else [],
            "background_labels": [i.label or i.description for i in final.background] if final else [],
            "rounds": len(d.rounds) if d else 0, "verdict": str(d.rounds[-1].verdict) if d else "",
        })
    lines = [f"{video_id}: {len(rows)} scenes", textwrap.fill(script.global_description, 100), ""]
    for r in rows:
        lines.append(f"scene {r['scene']:3d}  {r['start_s']:7.2f}-{r['end_s']:7.2f} s  shots {r['shots']}")
        lines.append(textwrap.indent(textwrap.fill(r["summary"] or "(no caption)", 96), "    "))
        lines.append(f"    foreground: {', '.join(r['foreground_labels']) or '-'}")
        lines.append(f"    background: {', '.join(r['background_labels']) or '-'}   "
                     f"({r['rounds']} round(s), {r['verdict'] or 'not designed'})")
    return rows, printable("\n".join(lines))  # model text: escapes shown, never obeyed


def folder_table(out: str) -> tuple[list[dict[str, Any]], str]:
    """The videos and the compositions (``lvas compose``) of ``out``, with their ids and states.

    Arguments:
        out: the output folder.

    Returns:
        Rows (``kind`` "video" or "composition"; ``video_id``, ``state``, ``stage``, ``source``;
        a composition's ``instruction`` and ``duration_s`` too) and a text table per kind.

    Raises:
        InputError: ``out`` holds no lvas status and no recorded composition.
    """
    from lvas.storage.progress import status_report

    layout = Layout(out)
    jobs = {j["job_id"]: j for j in read_compositions(layout)}
    # compositions recorded by a compose run that has no status yet are listed as pending
    fresh = bool(jobs) and not layout.status_dir().exists()
    states = {} if fresh else {v["video_id"]: v for v in status_report(out)["videos"]}
    # a composition made before they were recorded is known by its plan
    composed = set(jobs) | {v for v in states if (layout.video_dir(v) / "plan.parquet").exists()}
    fields = ("video_id", "state", "stage", "source")
    videos = [{"kind": "video", **{k: v.get(k, "") for k in fields}} for i, v in states.items() if i not in composed]
    compositions = []
    for cid in [*jobs, *sorted(composed - set(jobs))]:
        v = states.get(cid, {"video_id": cid, "state": "pending", "stage": "", "source": ""})
        job = jobs.get(cid, {})
        compositions.append({"kind": "composition", **{k: v.get(k, "") for k in fields},
                             "source": job.get("source") or v.get("source", ""),
                             "instruction": job.get("instruction", ""), "duration_s": job.get("duration_s")})
    blocks = []
    if videos or not compositions:
        blocks.append("\n".join([
            f"{'video_id':40} {'state':10} {'stage':11} source",
            *(f"{r['video_id']:40} {r['state']:10} {r['stage']:11} {r['source']}" for r in videos),
            f"{len(videos)} video(s); `lvas show {out} VIDEO_ID` shows one video's scenes"]))
    if compositions:
        def seconds(r: dict[str, Any]) -> str:
            return f"{r['duration_s']:9.1f}" if r["duration_s"] is not None else f"{'?':>9}"

        blocks.append("\n".join([
            f"{'composition_id':40} {'state':10} {'stage':11} {'seconds':>9} instruction",
            *(f"{r['video_id']:40} {r['state']:10} {r['stage']:11} {seconds(r)} "
              f"{textwrap.shorten(r['instruction'] or '(not recorded)', 80)}" for r in compositions),
            f"{len(compositions)} composition(s); `lvas show {out} ID` shows one composition's plan"]))
    return videos + compositions, printable("\n\n".join(blocks))


def is_composition(out: str, item_id: str) -> bool:
    """True when ``item_id`` in ``out`` is a composition of ``lvas compose`` (recorded, or planned)."""
    layout = Layout(out)
    return (layout.video_dir(item_id) / "plan.parquet").exists() or any(
        j["job_id"] == item_id for j in read_compositions(layout))


def composition_table(out: str, job_id: str) -> tuple[list[dict[str, Any]], str]:
    """One composition's plan: its segments (times, story detail) with the events that start in
    each (layer, label, prompt, start, end, gain; times on the composition's timeline).

    The events are the cue sheet's once the composition is mixed; before that, the plan's events
    as the render stage derives them (with the settings its compose run recorded).

    Arguments:
        out: the output folder.
        job_id: the composition's id.

    Returns:
        Rows per segment, each with its ``events``, and a text table.

    Raises:
        InputError: the composition has no plan yet.
    """
    from lvas.compose import load_plan, story_events
    from lvas.storage.atomic import read_parquet
    from lvas.storage.status import collect, rollup
    from lvas.timeline import label_sets

    layout = Layout(out)
    plan = layout.video_dir(job_id) / "plan.parquet"
    if not plan.exists():
        raise InputError(f"{out}: composition {job_id!r} has no plan yet (see `lvas status {out}`)")
    segments = load_plan(plan)
    job = next((j for j in read_compositions(layout) if j["job_id"] == job_id), {})
    state = rollup(collect(layout, [job_id])).get(job_id)
    mixed = layout.read_marker(job_id, "mix") is not None and layout.events(job_id).exists()
    if mixed:
        events = [{"segment": r["scene"], "layer": r["layer"], "label": r["label"], "prompt": r["prompt"],
                   "start_s": r["start_s"], "end_s": r["end_s"], "gain_db": r["gain_db"],
                   "segments": [int(x) for x in str(r.get("scenes") or r["scene"]).split(",") if x]}
                  for r in read_parquet(layout.events(job_id))]
    else:
        settings = _compose_settings(layout)
        events = [{"segment": e.scene_index, "layer": e.layer, "label": e.label, "prompt": e.prompt,
                   "start_s": e.start_s, "end_s": e.end_s, "gain_db": e.gain_db,
                   "segments": list(e.scenes) or [e.scene_index]}
                  for e in story_events(segments, settings, label_sets(settings.agents)[1])]
    rows = [{"segment": g.index, "start_s": round(g.start_s, 3), "end_s": round(g.end_s, 3), "detail": g.detail,
             "events": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in e.items() if k != "segment"}
                        for e in events if e["segment"] == g.index]}
            for g in segments]
    duration = segments[-1].end_s if segments else 0.0
    lines = [f"{job_id}: composition of {duration:g} s, {len(rows)} segments, {len(events)} events "
             f"({state.state if state else 'pending'}; events {'as mixed' if mixed else 'as planned, not mixed yet'})"]
    if job.get("instruction"):
        lines.append(textwrap.fill(job["instruction"], 100))
    lines.append("")
    for r in rows:
        lines.append(f"segment {r['segment']:3d}  {r['start_s']:7.2f}-{r['end_s']:7.2f} s")
        lines.append(textwrap.indent(textwrap.fill(r["detail"] or "(no detail)", 96), "    "))
        for e in r["events"]:
            more = f"  (to segment {e['segments'][-1]})" if len(e["segments"]) > 1 else ""
            lines.append(f"    {e['layer']:11}{textwrap.shorten(e['label'] or e['prompt'], 34):34} "
                         f"{e['start_s']:7.2f}-{e['end_s']:7.2f} s {e['gain_db']:+6.1f} dB{more}")
        if not r["events"]:
            lines.append("    (no event starts here)")
    return rows, printable("\n".join(lines))  # instruction and model text: escapes shown, never obeyed


def _compose_settings(layout: Layout) -> Settings:
    """The settings the folder's last compose run recorded (the defaults when there are none)."""
    try:
        return Settings.model_validate(json.loads(layout.compose_settings().read_text()))
    except (OSError, ValueError):
        return Settings()
