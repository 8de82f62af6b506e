"""The per-video report: a PNG with keyframes, scenes and the mix, and an HTML page around it."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvas.audio.mix import mix_video
from lvas.backends.procedural import ProceduralSynth
from lvas.models import (
    Caption,
    DesignRound,
    LayerSpec,
    Scene,
    SceneDesign,
    Script,
    Shot,
    SoundDesign,
    SoundItem,
    Storyboard,
    Verdict,
    VideoInfo,
)
from lvas.report import build_report
from lvas.settings import MixSettings
from lvas.storage.layout import Layout

VID = "demo-0123456789"
SCENES = [
    (0.0, 3.0, "A rabbit hops across a sunny meadow", ["rabbit hopping"], ["birds chirping"]),
    (3.0, 6.5, "Rain falls on a <quiet> street & cars pass", ["car passing by"], ["rain on pavement"]),
]


@pytest.fixture
def artifacts(tmp_path: Path) -> tuple[Layout, Storyboard, Script, list[SceneDesign], Path]:
    layout = Layout(tmp_path / "out")
    kdir = layout.keyframes_dir(VID)
    kdir.mkdir(parents=True)
    shots = []
    cuts = [1.5, 3.0, 4.8]
    bounds = [0.0, *cuts, 6.5]
    palette = [(200, 180, 60), (90, 160, 70), (60, 80, 140), (120, 120, 130)]
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        yy, xx = np.mgrid[0:96, 0:128]
        img = np.clip(np.array(palette[i])[None, None] + ((xx + yy * 2) % 40)[..., None] - 20, 0, 255)
        name = f"keyframes/shot{i:04d}_k0.jpg"
        Image.fromarray(img.astype(np.uint8)).save(layout.video_dir(VID) / name)
        shots.append(
            Shot(
                index=i,
                start_s=a,
                end_s=b,
                start_frame=round(a * 25),
                end_frame=round(b * 25),
                keyframes=[name],
                keyframe_frames=[round((a + b) / 2 * 25)],
            )
        )
    info = VideoInfo(path="/v.mp4", duration_s=6.5, fps=25, frame_count=162, width=640, height=360)
    storyboard = Storyboard(video_id=VID, info=info, cuts_s=cuts, shots=shots)
    scenes = [
        Scene(index=k, start_s=a, end_s=b, shot_indices=[2 * k, 2 * k + 1], caption=Caption(summary=s))
        for k, (a, b, s, _, _) in enumerate(SCENES)
    ]
    script = Script(
        video_id=VID, global_description="A short demo film.", shot_captions=[], decisions=[], scenes=scenes
    )
    designs = []
    layers = []
    synth = ProceduralSynth()
    for sc, (_, _, _, fg, bg) in zip(scenes, SCENES, strict=True):
        design = SoundDesign(
            audio=[SoundItem(description=f, label=f) for f in fg],
            background=[SoundItem(description=b, label=b) for b in bg],
        )
        designs.append(
            SceneDesign(
                video_id=VID,
                scene_index=sc.index,
                rounds=[DesignRound(round=1, design=design, verdict=Verdict.FINAL)],
            )
        )
        for kind, labels in (("foreground", fg), ("background", bg)):
            spec = LayerSpec(
                video_id=VID,
                video_path="/v.mp4",
                scene_index=sc.index,
                kind=kind,
                start_s=sc.start_s,
                end_s=sc.end_s,
                labels=labels,
                prompt=labels[0],
            )
            layers.append(
                synth.render(spec, layout.layer(VID, sc.index, kind), sample_rate=22050, channels=1)
            )
    mix = layout.mix(VID)
    mix_video(layers, scenes, 6.5, MixSettings(), 22050, 1, mix)
    return layout, storyboard, script, designs, mix


def test_report_page_and_timeline(
    artifacts: tuple[Layout, Storyboard, Script, list[SceneDesign], Path],
) -> None:
    layout, storyboard, script, designs, mix = artifacts
    page = build_report(layout, VID, storyboard, script, designs, mix)
    assert page == layout.report(VID)
    text = page.read_text()
    assert "A rabbit hops across a sunny meadow" in text
    assert "Rain falls on a &lt;quiet&gt; street &amp; cars pass" in text  # escaped, not injected
    for _, _, _, fg, bg in SCENES:
        assert fg[0] in text and bg[0] in text
    assert "src='../mix.wav'" in text
    assert 'src="timeline.png"' in text

    png = page.parent / "timeline.png"
    with Image.open(png) as img:
        width, height = img.size
        pixels = np.asarray(img.convert("RGB")).astype(float)
    assert width >= 1200 and height >= 700
    # Every panel has content: the four horizontal bands are not blank white.
    rows = pixels.std(axis=(1, 2))
    bands = np.array_split(rows[int(height * 0.08) : int(height * 0.94)], 4)
    assert all(band.mean() > 10 for band in bands)
    # The keyframes' colours appear in the strip (they were placed, not just framed).
    strip = pixels[int(height * 0.08) : int(height * 0.2)]
    assert np.any(np.all(np.abs(strip - [200, 180, 60]) < 30, axis=-1))


def test_report_without_mix_or_keyframes_still_renders(
    artifacts: tuple[Layout, Storyboard, Script, list[SceneDesign], Path],
) -> None:
    layout, storyboard, script, _, _ = artifacts
    for jpg in layout.keyframes_dir(VID).glob("*.jpg"):
        jpg.unlink()
    page = build_report(layout, VID, storyboard, script, [], None)
    text = page.read_text()
    assert "<audio" not in text
    assert (page.parent / "timeline.png").stat().st_size > 10_000
    assert "A rabbit hops across a sunny meadow" in text
    assert text.count("<td>—</td>") == 6  # no designs: no labels and no rounds, for both scenes


HOSTILE = "\x1b]0;pwned\x07\x1b[2J a car \u202egnp.exe passes\u200b"


def test_control_and_bidi_characters_are_shown_escaped(
    artifacts: tuple[Layout, Storyboard, Script, list[SceneDesign], Path], capsys: pytest.CaptureFixture[str],
) -> None:
    """Model text with terminal escapes and a bidi override: `lvas show`, `lvas status` and the
    report show them as escapes, never raw."""
    from lvas.agents.artifacts import save_designs, save_script
    from lvas.cli import main
    from lvas.storage.status import StatusRecord, record

    layout, storyboard, script, designs, mix = artifacts
    scenes = [sc.model_copy(update={"caption": Caption(summary=HOSTILE)}) for sc in script.scenes]
    script = script.model_copy(update={"scenes": scenes, "global_description": HOSTILE,
                                       "shot_captions": [Caption(summary=HOSTILE)] * len(storyboard.shots)})
    save_script(layout.script(VID), script)
    save_designs(layout.design(VID), designs)
    record(layout, StatusRecord(VID, "script", "failed", source=HOSTILE, error=f"endpoint said: {HOSTILE}"))
    page = build_report(layout, VID, storyboard, script, designs, mix).read_text()
    assert main(["show", str(layout.root), VID]) == 0
    assert main(["status", str(layout.root)]) == 0
    shown = capsys.readouterr().out
    for text in (page, shown):
        assert not any(ch in text for ch in "\x1b\x07\u202e\u200b")
        assert "\\x1b]0;pwned\\x07\\x1b[2J a car \\u202egnp.exe passes\\u200b" in text


def test_report_draws_the_events_under_the_keyframes(
    artifacts: tuple[Layout, Storyboard, Script, list[SceneDesign], Path],
) -> None:
    from lvas.agents.events import scene_events
    from lvas.report import LAYER_COLOURS, _panels
    from lvas.settings import AgentSettings

    layout, storyboard, script, designs, mix = artifacts
    events = [ev for sc, d in zip(script.scenes, designs, strict=True)
              for ev in scene_events(sc, d.final, AgentSettings())]
    page = build_report(layout, VID, storyboard, script, designs, mix, events=events)
    text = page.read_text()
    assert "<h2>Cue sheet</h2>" in text and text.count("<td>foreground</td>") == sum(
        e.layer == "foreground" for e in events)
    with Image.open(page.parent / "timeline.png") as img:
        pixels = np.asarray(img.convert("RGB")).astype(int)
    _, y0, _, y1 = _panels()[1]  # the band under the keyframe strip
    band = pixels[y0:y1]
    for layer, colour in LAYER_COLOURS.items():
        assert np.any(np.all(band == colour, axis=-1)), f"no {layer} event drawn"
    # the keyframe strip above it shows no event colour
    strip = pixels[_panels()[0][1]:_panels()[0][3]]
    assert not np.any(np.all(strip == LAYER_COLOURS["background"], axis=-1))


def test_the_strip_marks_a_dissolves_span(
    artifacts: tuple[Layout, Storyboard, Script, list[SceneDesign], Path],
) -> None:
    from lvas.models import ShotBoundary
    from lvas.report import _panels, _TimeAxis

    layout, storyboard, script, designs, mix = artifacts
    marked = storyboard.model_copy(update={"boundaries": [
        ShotBoundary(at_s=1.5, kind="cut", from_s=1.5, to_s=1.5),
        ShotBoundary(at_s=3.0, kind="dissolve", from_s=2.5, to_s=3.5),
        ShotBoundary(at_s=4.8, kind="cut", from_s=4.8, to_s=4.8)]})
    for board, spans in ((storyboard, False), (marked, True)):
        page = build_report(layout, VID, board, script, designs, mix)
        with Image.open(page.parent / "timeline.png") as img:
            pixels = np.asarray(img.convert("RGB")).astype(int)
        _, _, _, y1 = _panels()[0]
        x = _TimeAxis(6.5)
        foot = pixels[y1 - 2]
        white = np.all(foot == 255, axis=-1)
        along = np.r_[x(2.6):x(3.0) - 2, x(3.0) + 3:x(3.4)]  # the scene boundary's black line apart
        assert white[along].all() == spans  # along the dissolve, and only there
        assert not white[x(2.0):x(2.4)].any() and not white[x(3.6):x(4.5)].any()
