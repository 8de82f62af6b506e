"""Speed of the audio stages on this machine: procedural synthesis, mixing and muxing.

    .venv/bin/python bench/bench_audio.py [--seconds 60]

Prints real-time factors (processing seconds per second of audio; lower is better). The pipeline
budget is <= 0.25x real time end to end on 2 cores, so each layer should stay well under 0.05x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere: tests.clips

from lvas.audio.mix import mix_video
from lvas.backends.procedural import FAMILIES, ProceduralSynth, render_family
from lvas.media.mux import mux
from lvas.models import Caption, LayerSpec, Scene
from lvas.settings import MixSettings
from tests.clips import colour_cuts, make_clip


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sr", type=int, default=44100)
    args = parser.parse_args()
    sr, seconds = args.sr, args.seconds
    n = round(seconds * sr)
    t = np.arange(0, seconds, 0.04)
    motion = (t, np.abs(np.sin(t * 1.7)) ** 8)

    per_family = {f: timed(lambda f=f: render_family(f, n, sr, 1, motion, 2)) / seconds for f in FAMILIES}
    worst = max(per_family, key=per_family.get)
    print(
        f"family render, {seconds:.0f} s stereo {sr} Hz: "
        f"median {statistics.median(per_family.values()):.4f}x "
        f"real time, worst {worst} {per_family[worst]:.4f}x"
    )

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        scenes = [
            Scene(
                index=k,
                start_s=k * seconds / 6,
                end_s=(k + 1) * seconds / 6,
                shot_indices=[k],
                caption=Caption(),
            )
            for k in range(6)
        ]
        synth = ProceduralSynth()
        layers = []
        start = time.perf_counter()
        for sc in scenes:
            for kind, labels in (("foreground", ["dog barking", "footsteps"]), ("background", ["rain"])):
                spec = LayerSpec(
                    video_id="b",
                    video_path="b.mp4",
                    scene_index=sc.index,
                    kind=kind,
                    start_s=sc.start_s,
                    end_s=sc.end_s,
                    labels=labels,
                    prompt="",
                )
                layers.append(synth.render(spec, d / f"{sc.index}{kind}.wav", sample_rate=sr, channels=2))
        render_s = time.perf_counter() - start
        print(f"render 12 layers (6 scenes x fg 2 families + bg 1): {render_s / seconds:.4f}x real time")
        mix_s = timed(lambda: mix_video(layers, scenes, seconds, MixSettings(), sr, 2, d / "mix.wav"))
        print(f"mix {seconds:.0f} s stereo: {mix_s / seconds:.4f}x real time")
        video = make_clip(d / "v.mp4", colour_cuts([seconds / 2]), seconds=seconds, fps=25)
        mux_s = timed(lambda: mux(video, d / "mix.wav", d / "dubbed.mp4"))
        print(f"mux (AAC encode + packet copy): {mux_s / seconds:.4f}x real time")
        assert sf.info(str(d / "mix.wav")).frames == n


if __name__ == "__main__":
    main()
