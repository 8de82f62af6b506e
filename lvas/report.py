"""A per-video report to look at: keyframes on a timeline, scenes with captions and labels, and
the mix's waveform and spectrogram on the same time axis; one PNG and one HTML page around it.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw, ImageFont
from scipy import signal

from lvas.backends.library import sound_credits
from lvas.models import SceneDesign, Script, SoundEvent, Storyboard, StorySegment
from lvas.storage.atomic import atomic_path, write_text
from lvas.storage.layout import Layout
from lvas.text import printable

log = logging.getLogger(__name__)

SCENE_COLOURS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")

# The report pages' shared style sheet.
STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; margin-top: 16px; }
td, th { border-bottom: 1px solid #e5e5e5; padding: 6px 10px; vertical-align: top; text-align: left; }
th { background: #f5f5f5; }
</style>"""


def build_report(
    layout: Layout,
    video_id: str,
    storyboard: Storyboard,
    script: Script,
    designs: list[SceneDesign],
    mix_wav: str | Path | None,
    events: list[SoundEvent] | None = None,
    scores: list[dict[str, Any]] | None = None,
) -> Path:
    """Write ``layout.report(video_id)`` (HTML) and ``timeline.png`` beside it.

    Arguments:
        layout: the output folder.
        video_id: the video.
        storyboard: shots and keyframes (keyframe paths relative to the video's folder).
        script: scenes with captions.
        designs: final sound designs, one per scene (missing scenes show no labels).
        mix_wav: the mix; None or a missing file leaves the audio panels empty.
        events: the timed events (the cue sheet), drawn on the timeline under the keyframes and
            listed in a table; None or empty leaves that panel empty.
        scores: rows of ``scores.parquet`` (each scene of the mix scored against its picture),
            shown as a table; None or empty leaves it out.

    Returns:
        The HTML page's path.
    """
    out_html = layout.report(video_id)
    png = out_html.parent / "timeline.png"
    duration = storyboard.info.duration_s or max((s.end_s for s in script.scenes), default=1.0)
    audio, sr = _load_mix(mix_wav)
    by_scene = {d.scene_index: d for d in designs}
    fig = _figure(layout, video_id, storyboard, script, by_scene, audio, sr, duration, events or [])
    with atomic_path(png) as tmp:
        fig.save(tmp, format="PNG", compress_level=1)  # zlib level 6 took a third of the time
    page = _html(layout, video_id, storyboard, script, by_scene, png.name, mix_wav, duration)
    tables = _cue_table(events or []) + _scores_table(scores or [])
    write_text(out_html, page.replace("</table></body>", "</table>" + tables + "</body>"))
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
#
# Drawn straight into a Pillow image with numpy (keyframes, scene cards, waveform, spectrogram on one
# time axis): a plotting library's figure costs more than the rest of a short clip's work.

WIDTH, HEIGHT = 1760, 990
LEFT, RIGHT, TOP, BOTTOM = 110, 16, 56, 44
PANEL_RATIOS = (1.3, 0.9, 1.0, 1.0, 1.4)
LAYER_COLOURS = {"foreground": (76, 114, 176), "background": (85, 168, 104)}
GAP = 8
INK, GREY = (34, 34, 34), (128, 128, 128)


def _figure(
    layout: Layout,
    video_id: str,
    storyboard: Storyboard,
    script: Script,
    by_scene: dict[int, SceneDesign],
    audio: np.ndarray | None,
    sr: int,
    duration: float,
    events: list[SoundEvent],
) -> Image.Image:
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    x = _TimeAxis(duration)
    title = f"{video_id}: {len(storyboard.shots)} shots, {len(script.scenes)} scenes, {duration:.1f} s"
    draw.text((LEFT, 16), title, fill=INK, font=_font(20))
    boxes = _panels()
    _keyframe_strip(img, boxes[0], x, layout.video_dir(video_id), storyboard)
    _event_lanes(img, boxes[1], x, events)
    _scene_cards(img, boxes[2], x, script, by_scene)
    _waveform(img, boxes[3], x, script, audio)
    _spectrogram(img, boxes[4], x, audio, sr)
    for box, name in zip(boxes, ("keyframes", "events", "scenes", "mix", "kHz"), strict=True):
        draw.rectangle(box, outline=GREY)
        draw.text((12, (box[1] + box[3]) // 2), name, fill=INK, font=_font(14), anchor="lm")
        for scene in script.scenes[1:]:
            px = x(scene.start_s)
            draw.line([(px, box[1]), (px, box[3])], fill=(0, 0, 0), width=2)
    _time_ticks(draw, boxes[-1], x)
    return img


class _TimeAxis:
    """Seconds to pixel columns of the panels."""

    def __init__(self, duration: float) -> None:
        self.duration = max(duration, 1e-6)
        self.width = WIDTH - LEFT - RIGHT

    def __call__(self, t: float) -> int:
        return LEFT + round(min(max(t, 0.0), self.duration) / self.duration * (self.width - 1))


def _panels() -> list[tuple[int, int, int, int]]:
    total = HEIGHT - TOP - BOTTOM - GAP * (len(PANEL_RATIOS) - 1)
    boxes, y = [], TOP
    for r in PANEL_RATIOS:
        h = round(total * r / sum(PANEL_RATIOS))
        boxes.append((LEFT, y, WIDTH - RIGHT - 1, y + h - 1))
        y += h + GAP
    return boxes


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own scalable font: the same look on every machine, no system font needed."""
    return ImageFont.load_default(size=size)


def _keyframe_strip(img: Image.Image, box: tuple[int, int, int, int], x: _TimeAxis, video_dir: Path,
                    storyboard: Storyboard) -> None:
    _, y0, _, y1 = box
    draw = ImageDraw.Draw(img)
    for shot in storyboard.shots:
        frames = [video_dir / k for k in shot.keyframes if (video_dir / k).exists()]
        a, b = x(shot.start_s), x(shot.end_s)
        if not frames:
            draw.rectangle((a, y0, max(a, b - 1), y1), fill=(221, 221, 221))
            continue
        for i, path in enumerate(frames):
            fa, fb = a + (b - a) * i // len(frames), a + (b - a) * (i + 1) // len(frames)
            if fb <= fa:
                continue
            with Image.open(path) as frame:
                img.paste(frame.convert("RGB").resize((fb - fa, y1 - y0 + 1), Image.Resampling.BILINEAR), (fa, y0))
    for cut in storyboard.cuts_s:
        px = x(cut)
        for y in range(y0, y1, 10):  # dashed
            draw.line([(px, y), (px, min(y + 5, y1))], fill="white", width=1)
    for b in storyboard.boundaries:  # a dissolve's or fade's span: a white bar along the strip's foot
        if b.kind in ("dissolve", "fade") and x(b.to_s) > x(b.from_s):
            draw.rectangle((x(b.from_s), y1 - 4, x(b.to_s), y1), fill="white")


def _event_lanes(img: Image.Image, box: tuple[int, int, int, int], x: _TimeAxis, events: list[SoundEvent]) -> None:
    """Each event a bar from its start to its end (foreground blue, background green), in the first
    lane free at its start, labelled with its label (or prompt) and gain."""
    _, y0, _, y1 = box
    draw = ImageDraw.Draw(img)
    lanes: list[float] = []  # end time of the last event in each lane
    placed = []
    for ev in sorted(events, key=lambda e: (e.start_s, e.layer != "background")):
        lane = next((k for k, end in enumerate(lanes) if end <= ev.start_s + 1e-6), len(lanes))
        if lane == len(lanes):
            lanes.append(ev.end_s)
        lanes[lane] = ev.end_s
        placed.append((lane, ev))
    height = max(1, (y1 - y0 - 4) // max(1, len(lanes)))
    font = _font(12)
    for lane, ev in placed:
        top = y0 + 2 + lane * height
        a, b = x(ev.start_s), max(x(ev.start_s) + 2, x(ev.end_s))
        draw.rectangle((a, top + 1, b, top + height - 2), fill=LAYER_COLOURS[ev.layer], outline="white")
        text = f"{ev.label or ev.prompt} {ev.gain_db:+.0f} dB"
        chars = max(0, (b - a - 6) // 7)
        if chars >= 3:
            draw.text((a + 3, top + height // 2), text[:chars], fill="white", font=font, anchor="lm")


def _cue_table(events: list[SoundEvent]) -> str:
    """The cue sheet as an HTML table (empty string when there are no events)."""
    if not events:
        return ""
    esc = html.escape
    head = "".join(f"<th>{h}</th>" for h in ("scene", "layer", "label", "prompt", "start", "end", "gain"))
    rows = "".join(
        f"<tr><td>{'+'.join(map(str, ev.scenes)) or ev.scene_index}</td><td>{ev.layer}</td><td>{esc(ev.label)}</td>"
        f"<td>{esc(ev.prompt)}</td><td>{ev.start_s:.2f}</td><td>{ev.end_s:.2f}</td><td>{ev.gain_db:+.1f} dB</td></tr>"
        for ev in sorted(events, key=lambda e: (e.start_s, e.layer))
    )
    return f"<h2>Cue sheet</h2><table><tr>{head}</tr>{rows}</table>"


def _scores_table(rows: list[dict[str, Any]]) -> str:
    """The scenes' scores (measurable proxies, see lvas.audio.scores) with their reflection."""
    if not rows:
        return ""
    esc = html.escape
    names = [k for k in ("overall", "sync", "coverage", "level", "leak", "av_similarity", "desync")
             if any(k in r for r in rows)]

    def cell(v: Any) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else (
            f"{v:.2f}" if isinstance(v, float) else esc(str(v)))

    head = "".join(f"<th>{esc(h)}</th>" for h in ["scene", *names, "lag s", "reflected", "error"])
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(k))}</td>" for k in ["scene", *names, "detail_lag_s"])
        + f"<td>{cell(r.get('reflected_before'))} → {cell(r.get('reflected_after'))}</td>"
        + f"<td>{cell(r.get('error') or '')}</td></tr>" for r in rows)
    return (f"<h2>Scores</h2><p>Scored by {esc(str(rows[0].get('scorer', '')))}: measurable proxies, not the "
            f"paper's metrics (lvas.audio.scores).</p><table><tr>{head}</tr>{body}</table>")


def _scene_cards(img: Image.Image, box: tuple[int, int, int, int], x: _TimeAxis, script: Script,
                 by_scene: dict[int, SceneDesign]) -> None:
    x0, y0, x1, y1 = box
    tint = Image.new("RGB", img.size, "white")
    tdraw = ImageDraw.Draw(tint)
    for k, scene in enumerate(script.scenes):
        tdraw.rectangle((x(scene.start_s), y0, x(scene.end_s), y1), fill=_colour(k))
    region = (x0, y0, x1 + 1, y1 + 1)
    img.paste(Image.blend(img.crop(region), tint.crop(region), 0.18), region[:2])
    font = _font(13)
    line_h = 17
    for scene in script.scenes:
        a, b = x(scene.start_s), x(scene.end_s)
        chars = max(4, (b - a - 8) // 7)  # about 7 px a character at this size
        fg, bg = _labels(by_scene.get(scene.index))
        caption = scene.caption.summary or scene.caption.action or scene.caption.entity
        lines = [f"Scene {scene.index}  {scene.start_s:.1f}-{scene.end_s:.1f} s"]  # the font has no en dash
        lines += textwrap.wrap(caption, chars)[:3]
        if fg:
            lines += textwrap.wrap("FG: " + ", ".join(fg), chars)[:2]
        if bg:
            lines += textwrap.wrap("BG: " + ", ".join(bg), chars)[:2]
        card = Image.new("RGBA", (max(1, b - a - 4), y1 - y0 - 4), (0, 0, 0, 0))  # clipped to the scene
        cdraw = ImageDraw.Draw(card)
        for n, line in enumerate(lines[: (y1 - y0) // line_h]):
            cdraw.text((4, 4 + n * line_h), line, fill=INK, font=font)
        img.paste(card, (a + 2, y0 + 2), card)


def _waveform(img: Image.Image, box: tuple[int, int, int, int], x: _TimeAxis, script: Script,
              audio: np.ndarray | None) -> None:
    x0, y0, x1, y1 = box
    draw = ImageDraw.Draw(img)
    mid = (y0 + y1) // 2
    if audio is None or not len(audio):
        draw.text(((x0 + x1) // 2, mid), "no mix yet", fill=GREY, font=_font(14), anchor="mm")
        return
    pixels = np.asarray(img).copy()
    for k, scene in enumerate(script.scenes):  # tie the waveform to the scene cards by colour
        a, b = x(scene.start_s), x(scene.end_s)
        band = pixels[y0:y1 + 1, a:b + 1].astype(np.float32)
        pixels[y0:y1 + 1, a:b + 1] = (band * 0.92 + np.array(_colour(k), np.float32) * 0.08).astype(np.uint8)
    # Min/max per pixel column: a faithful envelope at any length, without drawing every sample.
    cols = x1 - x0 + 1
    edges = np.linspace(0, len(audio), cols + 1).astype(int)
    lo = np.minimum.reduceat(audio, np.minimum(edges[:-1], len(audio) - 1))
    hi = np.maximum.reduceat(audio, np.minimum(edges[:-1], len(audio) - 1))
    peak = max(float(np.abs(audio).max()), 1e-3) * 1.1
    half = (y1 - y0) / 2
    top = np.clip(np.round(mid - hi / peak * half), y0, y1).astype(int)
    bottom = np.clip(np.round(mid - lo / peak * half), y0, y1).astype(int)
    rows = np.arange(y0, y1 + 1)[:, None]
    mask = (rows >= top[None, :]) & (rows <= bottom[None, :])
    region = pixels[y0:y1 + 1, x0:x1 + 1]
    region[mask] = (59, 110, 165)
    region[mid - y0, ~mask[mid - y0]] = GREY
    img.paste(Image.fromarray(pixels))


def _spectrogram(img: Image.Image, box: tuple[int, int, int, int], x: _TimeAxis, audio: np.ndarray | None,
                 sr: int) -> None:
    x0, y0, _, y1 = box
    draw = ImageDraw.Draw(img)
    if audio is None or len(audio) < 512:
        return
    nper = 1024 if sr > 22050 else 512
    hop = max(nper // 2, len(audio) // 2000)  # about 2000 columns at most: a PNG shows no more
    f, _, sxx = signal.spectrogram(audio, fs=sr, nperseg=nper, noverlap=max(0, nper - hop), mode="psd")
    top_hz = min(sr / 2, 16000)
    sxx = sxx[f <= top_hz]
    db = 10 * np.log10(sxx + 1e-12)
    level = np.clip((db - (db.max() - 80)) / 80, 0, 1)
    rgb = _magma()[np.round(level[::-1] * 255).astype(np.uint8)]  # low frequencies at the bottom
    # the spectrogram's columns cover the frames' centres; stretched to the mix's span on the axis
    span = x(len(audio) / sr) - x0 + 1
    img.paste(Image.fromarray(rgb).resize((max(1, span), y1 - y0 + 1), Image.Resampling.NEAREST), (x0, y0))
    for khz in range(0, int(top_hz // 1000) + 1, 4):
        y = y1 - round(khz * 1000 / top_hz * (y1 - y0))
        draw.line([(x0 - 5, y), (x0, y)], fill=INK)
        draw.text((x0 - 8, y), str(khz), fill=INK, font=_font(12), anchor="rm")


@functools.lru_cache(maxsize=1)
def _magma() -> np.ndarray:
    """matplotlib's magma colour map as a 256 x 3 lookup table (the one part of matplotlib kept)."""
    from matplotlib import colormaps

    return (colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def _time_ticks(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], x: _TimeAxis) -> None:
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, math.inf)
                if x.duration / s <= 12)
    t = 0.0
    while t <= x.duration + 1e-9:
        px = x(t)
        draw.line([(px, box[3]), (px, box[3] + 5)], fill=INK)
        draw.text((px, box[3] + 8), f"{t:g}", fill=INK, font=_font(12), anchor="mt")
        t += step
    draw.text(((box[0] + box[2]) // 2, HEIGHT - 4), "time (s)", fill=INK, font=_font(13), anchor="mb")


def _colour(k: int) -> tuple[int, int, int]:
    h = SCENE_COLOURS[k % len(SCENE_COLOURS)].lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


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
    def esc(text: str) -> str:
        return html.escape(printable(text))

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
{STYLE}</head><body>
<h1>{esc(video_id)}</h1>
<p>{esc(script.global_description)}</p>
<p><small>{duration:.2f} s · {info.width}×{info.height} · {info.fps:.2f} fps ·
{len(storyboard.shots)} shots · {len(script.scenes)} scenes</small></p>
{"".join(media)}
<img src="{esc(png_name)}" alt="keyframes, scenes, waveform and spectrogram on one timeline">
<table><tr>{header}</tr>
{"".join(rows)}
</table>{_credits(layout, video_id)}</body></html>
"""


def _credits(layout: Layout, video_id: str) -> str:
    """The recordings the library synthesizer placed (file, licence, attribution; one row per file
    and label in a scene's layer) and the labels it left to the procedural synthesizer, with why."""
    esc = html.escape
    grouped: dict[tuple, int] = {}
    for s in sound_credits(layout, video_id):
        key = (s["scene_index"], s["layer"], s["label"], s["path"], s["license"], s["attribution"], s["reason"])
        grouped[key] = grouped.get(key, 0) + 1
    if not grouped:
        return ""
    rows = []
    for (scene, layer, label, path, lic, credit, reason), n in grouped.items():
        what = (f"{esc(Path(path).name)} ×{n}<br><small>{esc(path)}</small>" if path
                else f"procedural<br><small>{esc(reason)}</small>")
        terms = esc(lic) or ("see the library's terms" if path else "—")
        cells = [str(scene), esc(layer), esc(label), what, terms, esc(credit)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in ("scene", "layer", "label", "recording", "licence", "attribution"))
    return f"<h2>Recorded sounds</h2><table><tr>{header}</tr>{''.join(rows)}</table>"


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def build_compose_report(
    layout: Layout,
    job_id: str,
    instruction: str,
    segments: list[StorySegment],
    events: list[SoundEvent],
    mix_wav: str | Path | None,
) -> Path:
    """The report of a composition (``lvas compose``): the instruction, the events on the timeline,
    the story segments, the waveform and spectrogram; the segments and the cue sheet as tables.

    Returns:
        The HTML page's path (``layout.report(job_id)``, ``timeline.png`` beside it).
    """
    out_html = layout.report(job_id)
    png = out_html.parent / "timeline.png"
    scenes = [seg.scene() for seg in segments]
    script = Script(video_id=job_id, global_description=instruction, shot_captions=[], decisions=[], scenes=scenes)
    duration = max((s.end_s for s in scenes), default=1.0)
    audio, sr = _load_mix(mix_wav)
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    x = _TimeAxis(duration)
    draw.text((LEFT, 16), f"{job_id}: {len(scenes)} segments, {len(events)} events, {duration:.1f} s", fill=INK,
              font=_font(20))
    boxes = _panels()
    for n, line in enumerate(textwrap.wrap(instruction, 200)[:8]):
        draw.text((boxes[0][0] + 6, boxes[0][1] + 6 + n * 18), line, fill=INK, font=_font(14))
    _event_lanes(img, boxes[1], x, events)
    _scene_cards(img, boxes[2], x, script, {})
    _waveform(img, boxes[3], x, script, audio)
    _spectrogram(img, boxes[4], x, audio, sr)
    for box, name in zip(boxes, ("instruction", "events", "segments", "mix", "kHz"), strict=True):
        draw.rectangle(box, outline=GREY)
        draw.text((12, (box[1] + box[3]) // 2), name, fill=INK, font=_font(14), anchor="lm")
    _time_ticks(draw, boxes[-1], x)
    with atomic_path(png) as tmp:
        img.save(tmp, format="PNG", compress_level=1)
    esc = html.escape
    rows = "".join(f"<tr><td>{seg.index}</td><td>{seg.start_s:.2f}-{seg.end_s:.2f} s</td><td>{esc(seg.detail)}</td>"
                   f"<td><small>{esc(seg.design.reasoning)}</small></td></tr>" for seg in segments)
    player = ""
    if mix_wav is not None and Path(mix_wav).exists():
        player = f"<p>Mix: <audio controls src='{esc(_rel(Path(mix_wav), out_html.parent))}'></audio></p>"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>lvas compose — {esc(job_id)}</title>
{STYLE}</head><body>
<h1>{esc(job_id)}</h1>
<p>{esc(instruction)}</p>
{player}
<img src="{esc(png.name)}" alt="events, segments, waveform and spectrogram on one timeline">
<h2>Segments</h2><table><tr><th>segment</th><th>span</th><th>story</th><th>planner</th></tr>{rows}</table>
{_cue_table(events)}</body></html>
"""
    write_text(out_html, page)
    return out_html
