"""Cost of timed events and of composed audio with the embedded defaults (procedural synthesizer).

    .venv/bin/python bench/bench_events.py [--repeat 3] [--write]

1. Per event: a scene of ``--scene`` seconds rendered as timed events (a bed over the scene and
   foreground events of 0.5, 2 and 4 s) against the same scene rendered the older way, one
   foreground and one background layer over the whole scene, in the same run (the reference).
   The mix of the events (``mix_events``) against the per-scene mix (``mix_video``) likewise.
2. Per minute of composed audio: ``compose_direct`` (plan, render, mix, report; no orchestrator)
   on the storm instruction for 60 and 120 s, seconds of work per minute of audio.

Medians of ``--repeat`` runs; ``--write`` records the figures in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section
from lvas.audio.mix import mix_events, mix_video
from lvas.compose import ComposeJob, compose_direct, make_job
from lvas.models import Caption, LayerSpec, RenderedLayer, Scene, SoundEvent, VideoRef
from lvas.render import event_specs, render_events, synth_for
from lvas.settings import MixSettings, Settings
from lvas.storage.layout import Layout

STORM = ("a thunderstorm rolls in over a harbour at night, rain grows heavier, a ship's horn, "
         "then the storm passes at dawn with birds")


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_event(scene_s: float, repeat: int) -> dict[str, float]:
    s = Settings()
    video = VideoRef(source="bench", path="", video_id="bench")
    events = [SoundEvent(scene_index=0, index=0, layer="background", label="rain", prompt="rain", start_s=0.0,
                         end_s=scene_s)]
    for k, (label, length) in enumerate((("door slam", 0.5), ("footsteps", 2.0), ("car engine idling", 4.0))):
        start = 1.0 + k * scene_s / 4
        events.append(SoundEvent(scene_index=0, index=k + 1, layer="foreground", label=label, prompt=label,
                                 start_s=start, end_s=start + length))
    layers = [LayerSpec(video_id="bench", video_path="", scene_index=0, kind=kind, start_s=0.0, end_s=scene_s,
                        labels=labels, prompt=", ".join(labels), seed=7)
              for kind, labels in (("foreground", ["door slam", "footsteps", "car engine idling"]),
                                   ("background", ["rain"]))]
    synth = synth_for(s.synth)
    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(tmp)
        specs = event_specs(video, events, s.synth)
        counter = iter(range(10**6))

        def events_render() -> dict[str, str]:
            return render_events(specs, layout, s.synth, f"bench{next(counter)}")  # a new key: no cache hit

        def layers_render() -> list[RenderedLayer]:
            return [synth.render(sp, Path(tmp) / f"{sp.kind}.wav", sample_rate=s.synth.sample_rate,
                                 channels=s.synth.channels) for sp in layers]

        t_events = median_time(events_render, repeat)
        t_layers = median_time(layers_render, repeat)
        files = events_render()
        rendered = [RenderedLayer(spec=sp, wav_path=f, sample_rate=s.synth.sample_rate, backend="procedural")
                    for sp, f in zip(specs, files.values(), strict=True)]
        old = layers_render()
        scene = Scene(index=0, start_s=0.0, end_s=scene_s, shot_indices=[0], caption=Caption())
        m_events = median_time(lambda: mix_events(rendered, [], scene_s, MixSettings(), s.synth.sample_rate,
                                                  s.synth.channels, Path(tmp) / "m1.wav"), repeat)
        m_layers = median_time(lambda: mix_video(old, [scene], scene_s, MixSettings(), s.synth.sample_rate,
                                                 s.synth.channels, Path(tmp) / "m2.wav"), repeat)
    return {"events": len(events), "render_events_s": t_events, "render_layers_s": t_layers,
            "mix_events_s": m_events, "mix_layers_s": m_layers}


def per_minute(durations: list[float], repeat: int) -> dict[float, float]:
    s = Settings()
    out = {}
    for seconds in durations:
        job = make_job(STORM, seconds, s.compose, "bench")

        def run(job: ComposeJob = job) -> None:
            with tempfile.TemporaryDirectory() as tmp:
                compose_direct(Layout(tmp), job, s)

        out[seconds] = median_time(run, repeat)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scene", type=float, default=20.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    ev = per_event(args.scene, args.repeat)
    comp = per_minute([60.0, 120.0], args.repeat)
    lines = [
        f"Scene of {args.scene:g} s, {ev['events']} events (a bed over the scene; 0.5, 2 and 4 s foreground), "
        f"44.1 kHz stereo, median of {args.repeat}:",
        "",
        "| | timed events | one layer per kind over the scene (reference) | ratio |",
        "|---|---|---|---|",
        f"| render | {ev['render_events_s']:.3f} s ({ev['render_events_s'] / ev['events'] * 1000:.0f} ms per event) "
        f"| {ev['render_layers_s']:.3f} s | {ev['render_events_s'] / ev['render_layers_s']:.2f}x |",
        f"| mix | {ev['mix_events_s']:.3f} s ({ev['mix_events_s'] / ev['events'] * 1000:.0f} ms per event) "
        f"| {ev['mix_layers_s']:.3f} s | {ev['mix_events_s'] / ev['mix_layers_s']:.2f}x |",
        "",
        "Composed audio (`compose_direct`: offline planner, procedural render, mix, report; the storm "
        "instruction):",
        "",
        "| duration | wall | per minute of audio | real-time factor |",
        "|---|---|---|---|",
        *[f"| {d:g} s | {t:.2f} s | {t / d * 60:.2f} s | {t / d:.3f}x |" for d, t in comp.items()],
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        command = "`.venv/bin/python bench/bench_events.py --write`"
        write_section("Timed events and composed audio", f"{command}\n\n{body}")


if __name__ == "__main__":
    main()
