"""The evaluation's artifacts in ``OUT/eval/``: scores.parquet, summary.md, summary.json, index.html."""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lvas.eval.avbench import METRICS
from lvas.eval.evaluate import Evaluation
from lvas.storage.atomic import write_bytes, write_json, write_parquet, write_text

# Columns averaged per system, with how they read (higher or lower is better)
SUMMARY = {
    "duration_match": "share of videos whose soundtrack lasts as long as the video (higher)",
    "loudness_lufs": "integrated loudness, LUFS (target -23)",
    "true_peak_dbtp": "true peak, dBTP (at most -1)",
    "level_ok": "share within 1 LU of the target and under the peak ceiling (higher)",
    "sound_share": "share of the video with sound (higher)",
    "sync": "onset synchrony with the picture's motion, the shared scorer's (higher)",
    "sync_lag_s": "lag of best synchrony, s (near 0; positive: the sound is late)",
    "coverage": "shared scorer: no silence under motion nor loud sound on a still picture (higher)",
    "level": "shared scorer: level sanity (higher)",
    "leak": "shared scorer: speech/music leak indicator of the audio (lower)",
    "onset_acc": "onset accuracy against the reference (higher)",
    "onset_ap": "onset AP against the reference (higher)",
    "events": "timed events in the cue sheet",
    "leak_events": "speech or music events in the cue sheet (lower)",
}
PLOTTED = ("sync", "coverage", "loudness_lufs", "onset_ap")


def summarize(ev: Evaluation) -> list[dict[str, Any]]:
    """One row per system: the mean of each measure over the videos every system has (so the
    systems are compared on the same videos), how many, and av-benchmark's metrics when run."""
    systems = list(dict.fromkeys(r["system"] for r in ev.rows))
    per = {s: {r["video_id"]: r for r in ev.rows if r["system"] == s} for s in systems}
    # compared on the videos every system has, among the systems that share any with the first
    # (a folder of other inputs is scored on its own)
    first = set(per[systems[0]]) if systems else set()
    sharing = [set(v) for v in per.values() if set(v) & first]
    common = set.intersection(*sharing) if sharing else set()
    out = []
    for s in systems:
        shared = [per[s][v] for v in sorted(common) if v in per[s]]
        chosen = shared or list(per[s].values())
        row: dict[str, Any] = {"system": s, "videos": len(chosen), "compared_on": "common" if shared else "own"}
        for col in SUMMARY:
            vals = np.array([float(r[col]) for r in chosen], dtype=float)
            vals = vals[np.isfinite(vals)]
            row[col] = float(vals.mean()) if len(vals) else math.nan
        row |= {col: ev.model_metrics.get(s, {}).get(col, math.nan) for col in METRICS.values()}
        out.append(row)
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else f"{v:.3f}"
    return str(v)


def markdown(summary: list[dict[str, Any]], problems: list[str]) -> str:
    """The summary table (and the problems met) as Markdown."""
    cols = ["system", "videos", *SUMMARY, *[c for c in METRICS.values() if any(
        math.isfinite(r.get(c, math.nan)) for r in summary)]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in summary]
    lines += ["", *[f"- `{c}`: {d}" for c, d in SUMMARY.items()]]
    if problems:
        lines += ["", "Problems:", *[f"- {p}" for p in problems]]
    return "\n".join(lines) + "\n"


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def plots(ev: Evaluation, dest: Path) -> list[Path]:
    """Score distributions per system (box plots) and a per-video comparison (one line per system)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    systems = list(dict.fromkeys(r["system"] for r in ev.rows))
    written = []
    cols = [c for c in PLOTTED if any(math.isfinite(float(r[c])) for r in ev.rows)]
    if not cols:
        return written
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.5), squeeze=False)
    for ax, col in zip(axes[0], cols, strict=True):
        data = [[float(r[col]) for r in ev.rows if r["system"] == s and math.isfinite(float(r[col]))] for s in systems]
        ax.boxplot([d or [math.nan] for d in data])
        ax.set_xticks(range(1, len(systems) + 1), systems, rotation=30, ha="right", fontsize=8)
        ax.set_title(col, fontsize=9)
    written.append(write_bytes(dest / "distributions.png", _png(fig)))
    plt.close(fig)
    videos = sorted({r["stem"] for r in ev.rows})
    fig, axes = plt.subplots(len(cols), 1, figsize=(max(6, 0.6 * len(videos) + 3), 2.6 * len(cols)), squeeze=False,
                             sharex=True)
    for ax, col in zip(axes[:, 0], cols, strict=True):
        for s in systems:
            by = {r["stem"]: float(r[col]) for r in ev.rows if r["system"] == s}
            ax.plot(range(len(videos)), [by.get(v, math.nan) for v in videos], marker="o", label=s)
        ax.set_ylabel(col, fontsize=8)
    axes[-1, 0].set_xticks(range(len(videos)), videos, rotation=30, ha="right", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    written.append(write_bytes(dest / "per_video.png", _png(fig)))
    plt.close(fig)
    return written


def write(ev: Evaluation, dest: str | Path) -> dict[str, Path]:
    """Write scores.parquet (per video, and per system: ``kind`` "video" or "system"), summary.md,
    summary.json and index.html with the plots into ``dest``.

    Returns:
        {artifact: path}.
    """
    dest = Path(dest)
    summary = summarize(ev)
    rows = [{**r, "kind": "video"} for r in ev.rows]
    rows += [{"kind": "system", "video_id": "*", **r} for r in summary]
    cols = sorted({k for r in rows for k in r})
    numeric = {k for k in cols if any(isinstance(_cell(r.get(k)), float) for r in rows if k in r)}
    table = [{k: _cell(r[k]) if k in r else (math.nan if k in numeric else "") for k in cols} for r in rows]
    out = {"scores": write_parquet(dest / "scores.parquet", table)}
    md = markdown(summary, ev.problems)
    out["markdown"] = write_text(dest / "summary.md", md)
    out["json"] = write_json(dest / "summary.json", {"systems": [{k: _cell(v) for k, v in r.items()} for r in summary],
                                                     "problems": ev.problems, "measures": SUMMARY})
    pngs = plots(ev, dest)
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in summary[0]) + "</tr>" if summary else ""
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r.values()) + "</tr>" for r in summary)
    page = ["<!doctype html><meta charset='utf-8'><title>lvas eval</title>",
            "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:3px 6px;"
            "font-size:13px}table{border-collapse:collapse}</style>",
            "<h1>lvas eval</h1><table>", head, body, "</table>",
            "<ul>" + "".join(f"<li><code>{html.escape(c)}</code>: {html.escape(d)}</li>" for c, d in SUMMARY.items())
            + "</ul>",
            *[f"<h2>{html.escape(p.stem.replace('_', ' '))}</h2><img src='{html.escape(p.name)}'>" for p in pngs]]
    if ev.problems:
        page += ["<h2>Problems</h2><ul>", *[f"<li>{html.escape(p)}</li>" for p in ev.problems], "</ul>"]
    out["html"] = write_text(dest / "index.html", "\n".join(page) + "\n")
    return out


def _cell(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return float(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v)
    return "" if v is None else str(v)


def summary_json(path: str | Path) -> dict[str, Any]:
    """Read a summary.json back."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
