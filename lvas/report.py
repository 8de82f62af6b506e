"""A per-video report to look at: keyframes on a timeline, scenes with captions and labels, and
the mix's waveform and spectrogram on the same time axis; one PNG and one HTML page around it.
"""

from __future__ import annotations

import html
import logging
import math
import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless workers; must precede pyplot
import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image
from scipy import signal

from lvas.models import SceneDesign, Script, Storyboard
from storage.atomic import atomic_path, write_text
from storage.layout import Layout

log = logging.getLogger(__name__)

SCENE_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
THUMB_HEIGHT = 96


def build_report(
    layout: Layout,
    video_id: str,
    storyboard: Storyboard,
    script: Script,
    designs: list[SceneDesign],
    mix_wav: str | Path | None,
) -> Path:
    """Write ``layout.report(video_id)`` (HTML) and ``timeline.png`` beside it.

    Arguments:
        layout: the output folder.
        video_id: the video.
        storyboard: shots and keyframes (keyframe paths relative to the video's folder).
        script: scenes with captions.
        designs: final sound designs, one per scene (missing scenes show no labels).
        mix_wav: the mix; None or a missing file leaves the audio panels empty.

    Returns:
        The HTML page's path.
    """
    out_html = layout.report(video_id)
    png = out_html.parent / "timeline.png"
    duration = storyboard.info.duration_s or max((s.end_s for s in script.scenes), default=1.0)
    audio, sr = _load_mix(mix_wav)
    by_scene = {d.scene_index: d for d in designs}
    fig = _figure(layout, video_id, storyboard, script, by_scene, audio, sr, duration)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, pil_kwargs={"compress_level": 1})  # zlib level 6 took a third of the report
    plt.close(fig)
    write_text(out_html, _html(layout, video_id, storyboard, script, by_scene, png.name, mix_wav, duration))
    return out_html


def _load_mix(mix_wav: str | Path | None) -> tuple[np.ndarray | None, int]:
    if mix_wav is None or not Path(mix_wav).exists():
        return None, 0
    audio, sr = sf.read(str(mix_wav), dtype="float32", always_2d=True)
    return audio.mean(axis=1), int(sr)


def _labels(design: SceneDesign | None) -> tuple[list[str], list[str]]:
    if design is None:
        return [], []
    final = design.final
    return (
        [i.label or i.description for i in final.audio],
        [i.label or i.description for i in final.background],
    )


# --------------------------------------------------------------------------- figure


def _figure(
    layout: Layout,
    video_id: str,
    storyboard: Storyboard,
    script: Script,
    by_scene: dict[int, SceneDesign],
    audio: np.ndarray | None,
    sr: int,
    duration: float,
) -> Figure:
    fig, axes = plt.subplots(
        4, 1, figsize=(16, 9), sharex=True, gridspec_kw={"height_ratios": [1.3, 1.0, 1.1, 1.6]}
    )
    fig.subplots_adjust(left=0.06, right=0.99, top=0.93, bottom=0.06, hspace=0.08)
    title = f"{video_id} — {len(storyboard.shots)} shots, {len(script.scenes)} scenes, {duration:.1f} s"
    fig.suptitle(title, fontsize=13, x=0.06, ha="left")
    _keyframe_strip(axes[0], layout.video_dir(video_id), storyboard, duration)
    _scene_cards(axes[1], script, by_scene)
    _waveform(axes[2], audio, sr, duration)
    _spectrogram(axes[3], audio, sr, duration)
    for ax in axes:
        for k, scene in enumerate(script.scenes):
            if k:
                ax.axvline(scene.start_s, color="black", lw=1.6, alpha=0.8)
            if ax is axes[2]:  # tie the waveform to the scene cards by colour
                colour = SCENE_COLOURS[k % len(SCENE_COLOURS)]
                ax.axvspan(scene.start_s, scene.end_s, color=colour, alpha=0.08, lw=0)
        ax.set_xlim(0, duration)
    axes[-1].set_xlabel("time (s)")
    return fig


def _keyframe_strip(ax: Axes, video_dir: Path, storyboard: Storyboard, duration: float) -> None:
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("keyframes", rotation=0, ha="right", va="center")
    for shot in storyboard.shots:
        frames = [video_dir / k for k in shot.keyframes if (video_dir / k).exists()]
        span = shot.end_s - shot.start_s
        if not frames:
            ax.add_patch(Rectangle((shot.start_s, 0), span, 1, color="#dddddd"))
            continue
        width = span / len(frames)
        for i, path in enumerate(frames):
            with Image.open(path) as img:
                img.thumbnail((THUMB_HEIGHT * 4, THUMB_HEIGHT))
                pixels = np.asarray(img.convert("RGB"))
            x0 = shot.start_s + i * width
            ax.imshow(pixels, extent=(x0, x0 + width, 0, 1), aspect="auto", interpolation="bilinear")
    for cut in storyboard.cuts_s:
        ax.axvline(cut, color="white", lw=1.0, ls="--")
    ax.set_xlim(0, duration)


def _scene_cards(ax: Axes, script: Script, by_scene: dict[int, SceneDesign]) -> None:
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("scenes", rotation=0, ha="right", va="center")
    total = max((s.end_s for s in script.scenes), default=1.0)
    for k, scene in enumerate(script.scenes):
        colour = SCENE_COLOURS[k % len(SCENE_COLOURS)]
        ax.add_patch(Rectangle((scene.start_s, 0), scene.duration_s, 1, color=colour, alpha=0.18))
        fg, bg = _labels(by_scene.get(scene.index))
        # Wrap to the scene's width: ~ characters that fit in its share of a 16-inch figure.
        chars = max(8, int(scene.duration_s / total * 135))
        caption = scene.caption.summary or scene.caption.action or scene.caption.entity
        lines = [f"Scene {scene.index}  {scene.start_s:.1f}–{scene.end_s:.1f} s"]
        lines += textwrap.wrap(caption, chars)[:3]
        if fg:
            lines += textwrap.wrap("FG: " + ", ".join(fg), chars)[:2]
        if bg:
            lines += textwrap.wrap("BG: " + ", ".join(bg), chars)[:2]
        ax.text(
            scene.start_s + 0.01 * total,
            0.95,
            "\n".join(lines),
            va="top",
            ha="left",
            fontsize=9.5,
            clip_on=True,
            color="#222222",
            family="DejaVu Sans",
        )


def _waveform(ax: Axes, audio: np.ndarray | None, sr: int, duration: float) -> None:
    ax.set_ylabel("mix", rotation=0, ha="right", va="center")
    if audio is None or not len(audio):
        ax.text(duration / 2, 0, "no mix yet", ha="center", va="center", color="gray")
        ax.set_ylim(-1, 1)
        return
    # Min/max per column: a faithful envelope at any length, without plotting every sample.
    cols = 2000
    per = max(1, math.ceil(len(audio) / cols))
    padded = np.pad(audio, (0, per * math.ceil(len(audio) / per) - len(audio)))
    blocks = padded.reshape(-1, per)
    t = (np.arange(len(blocks)) + 0.5) * per / sr
    ax.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="#3b6ea5", lw=0)
    peak = max(float(np.abs(audio).max()), 1e-3)
    ax.set_ylim(-peak * 1.1, peak * 1.1)
    ax.axhline(0, color="gray", lw=0.5)


def _spectrogram(ax: Axes, audio: np.ndarray | None, sr: int, duration: float) -> None:
    ax.set_ylabel("kHz")
    if audio is None or len(audio) < 512:
        return
    nper = 1024 if sr > 22050 else 512
    hop = max(nper // 2, len(audio) // 2000)  # about 2000 columns at most: a PNG shows no more
    f, _, sxx = signal.spectrogram(audio, fs=sr, nperseg=nper, noverlap=max(0, nper - hop), mode="psd")
    db = 10 * np.log10(sxx + 1e-12)
    vmax = float(db.max())
    # a regular grid: imshow draws it as one image (pcolormesh took seconds on long mixes)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=vmax - 80, vmax=vmax,
              extent=(0.0, duration, 0.0, f[-1] / 1000), interpolation="nearest")
    ax.set_xlim(0, duration)
    ax.set_ylim(0, min(sr / 2, 16000) / 1000)


# --------------------------------------------------------------------------- html


def _html(
    layout: Layout,
    video_id: str,
    storyboard: Storyboard,
    script: Script,
    by_scene: dict[int, SceneDesign],
    png_name: str,
    mix_wav: str | Path | None,
    duration: float,
) -> str:
    esc = html.escape
    rows = []
    for k, scene in enumerate(script.scenes):
        design = by_scene.get(scene.index)
        fg, bg = _labels(design)
        rounds = (
            f"{len(design.rounds)} ({design.rounds[-1].verdict.value})" if design and design.rounds else "—"
        )
        c = scene.caption
        colour = SCENE_COLOURS[k % len(SCENE_COLOURS)]
        span = (
            f"{scene.start_s:.2f}–{scene.end_s:.2f} s<br><small>shots {esc(str(scene.shot_indices))}</small>"
        )
        caption = (
            f"<b>{esc(c.summary)}</b><br><small>background: {esc(c.background)}<br>"
            f"entity: {esc(c.entity)}<br>action: {esc(c.action)}</small>"
        )
        cells = [span, caption, esc(", ".join(fg)) or "—", esc(", ".join(bg)) or "—", esc(rounds)]
        row = "".join(f"<td>{cell}</td>" for cell in cells)
        rows.append(f"<tr><td style='border-left:6px solid {colour}'>{scene.index}</td>{row}</tr>")
    media = []
    report_dir = layout.report_dir(video_id)
    if mix_wav is not None and Path(mix_wav).exists():
        media.append(f"<p>Mix: <audio controls src='{esc(_rel(Path(mix_wav), report_dir))}'></audio></p>")
    dubbed = layout.dubbed(video_id)
    if dubbed.exists():
        media.append(f"<video controls width='640' src='{esc(_rel(dubbed, report_dir))}'></video>")
    info = storyboard.info
    header = "".join(
        f"<th>{h}</th>" for h in ("scene", "span", "caption", "foreground", "background", "rounds")
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>lvas — {esc(video_id)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 16px; }}
td, th {{ border-bottom: 1px solid #e5e5e5; padding: 6px 10px; vertical-align: top; text-align: left; }}
th {{ background: #f5f5f5; }}
</style></head><body>
<h1>{esc(video_id)}</h1>
<p>{esc(script.global_description)}</p>
<p><small>{duration:.2f} s · {info.width}×{info.height} · {info.fps:.2f} fps ·
{len(storyboard.shots)} shots · {len(script.scenes)} scenes</small></p>
{"".join(media)}
<img src="{esc(png_name)}" alt="keyframes, scenes, waveform and spectrogram on one timeline">
<table><tr>{header}</tr>
{"".join(rows)}
</table></body></html>
"""


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)
