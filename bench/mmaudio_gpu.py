"""MMAudio through lvas on a GPU: load time, seconds per layer, throughput, memory, batching.

    python bench/mmaudio_gpu.py --weights DIR [--mmaudio PATH] [--build-random]
        [--variants small_16k,large_44k_v2] [--num-steps 25] [--json OUT.json]

Needs CUDA, MMAudio (installed, or a checkout given as ``--mmaudio``) and its weights in DIR laid
out as lvas reads them (LVAS_SYNTH__WEIGHTS_DIR: ``weights/``, ``ext_weights/``, ``hf_hub/``).
``--build-random`` first builds random weights for the missing variants into DIR with
bench/mmaudio_check.py's builder (MMAudio's own constructors): the timings of random networks of
the real sizes are the real ones; the audio is noise. It cannot run without a GPU (it says so).

Per variant, in bf16 on ``cuda``, through lvas's MMAudio backend (``MMAudioSynth.render`` and
``render_batch``, the functions the render task calls), on foreground layers of one 8 s window
(video-to-audio: CLIP, Synchformer, the network, the VAE and the vocoder all run):

  load         seconds to load the variant (``load_model``), cold;
  first layer  seconds to render the first layer (CUDA kernels and caches warming up);
  warm layer   median seconds per layer over the next three, rendered one at a time;
  8 single     eight layers rendered with ``batch_windows=1``: eight ``generate`` calls;
  batch of 8   the same eight layers with ``batch_windows=8``: one call;
  audio/GPU-s  seconds of audio per second of GPU-held wall time, single and batched;
  peak GiB     ``torch.cuda.max_memory_allocated`` over the variant's runs, and over the batch of 8.

Wall times are taken after ``torch.cuda.synchronize()``; frame decoding (CPU) is inside them, as in
a render task (overlapped with the GPU in ``render_batch``).

``--device cpu --stub-image-encoders --layers 2 --window-s 2 --num-steps 1`` is a dry run of this
script's code on a machine without a GPU (as mmaudio_check.py's options); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def layer_specs(video: Any, count: int, window_s: float, kind: str = "foreground") -> list[Any]:
    """``count`` layers of one window each, at successive times of ``video``'s clip."""
    from lvas.models import LayerSpec

    return [LayerSpec(video_id=video.video_id, video_path=video.path, scene_index=i, kind=kind,
                      start_s=i * window_s, end_s=(i + 1) * window_s, labels=["dog barking"],
                      prompt="dog barking", negative_prompt="", seed=i) for i in range(count)]


def measure(variant: str, weights: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The figures of one variant (see the module docstring)."""
    import torch

    from bench.mmaudio_check import designed_layout
    from lvas.backends.mmaudio_backend import MMAudioSynth, load_model
    from lvas.backends.synth import LayerJob
    from lvas.settings import SynthSettings

    device, layers, window_s = args.device, args.layers, args.window_s
    cuda = device.startswith("cuda")

    def timed(fn: Any) -> tuple[float, Any]:
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start, result

    def peak() -> float:
        return torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")

    settings = SynthSettings(backend="mmaudio", variant=variant, weights_dir=str(weights), device=device,
                             num_steps=args.num_steps, window_s=max(window_s, 1.0))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    load_s, model = timed(lambda: load_model(settings, device))
    if args.stub_image_encoders:
        from bench.mmaudio_check import stub_image_encoders

        stub_image_encoders(model)
    _, video = designed_layout(out, [(0.0, (layers + 4) * window_s)])
    specs = layer_specs(video, layers + 4, window_s)
    rate, channels = settings.sample_rate, settings.channels
    synth = MMAudioSynth(settings, device)

    def one(i: int) -> float:
        seconds, _ = timed(lambda: synth.render(specs[i], out / f"one{i}.wav", sample_rate=rate, channels=channels))
        return seconds

    first = one(0)
    warm = [one(i) for i in (1, 2, 3)]
    jobs = [LayerJob(spec, out / f"batch{i}.wav") for i, spec in enumerate(specs[4:])]

    def batch(most: int) -> float:
        s = MMAudioSynth(settings.model_copy(update={"batch_windows": most}), device)
        seconds, done = timed(lambda: s.render_batch(jobs, sample_rate=rate, channels=channels))
        errors = [d for d in done if isinstance(d, Exception)]
        if errors:
            raise errors[0]
        return seconds

    single_s = batch(1)
    peak_all = peak()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    batched_s = batch(layers)
    peak_batch = peak()
    audio = layers * window_s
    return {
        "variant": variant, "device": device, "dtype": str(model.dtype), "num_steps": args.num_steps,
        "layers": layers, "window_s": window_s, "load_s": load_s, "first_layer_s": first,
        "warm_layer_s": statistics.median(warm), "single_s": single_s, "batch_s": batched_s,
        "audio_per_gpu_s_single": audio / single_s, "audio_per_gpu_s_batch": audio / batched_s,
        "peak_gib": max(peak_all, peak_batch), "peak_batch_gib": peak_batch,
        "gpu": torch.cuda.get_device_name() if cuda else "none (dry run)", "torch": torch.__version__,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True, help="weights folder (LVAS_SYNTH__WEIGHTS_DIR)")
    ap.add_argument("--mmaudio", type=Path, help="a local MMAudio checkout, if the package is not installed")
    ap.add_argument("--build-random", action="store_true", help="build random weights for missing variants first")
    ap.add_argument("--variants", default="small_16k,large_44k_v2")
    ap.add_argument("--num-steps", type=int, default=25)
    ap.add_argument("--layers", type=int, default=8, help="the batch measured against as many single calls")
    ap.add_argument("--window-s", type=float, default=8.0, help="each layer's length: one model window")
    ap.add_argument("--device", default="cuda", help="cpu only for a dry run of this script (no figures)")
    ap.add_argument("--stub-image-encoders", action="store_true", help="dry run on a CPU: see mmaudio_check.py")
    ap.add_argument("--define-torchvision-ops", action="store_true", help="see mmaudio_check.py")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "mmaudio-gpu")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: bench/mmaudio_gpu.py measures the GPU path and runs only on a GPU")
    if args.define_torchvision_ops:
        from bench.mmaudio_check import define_torchvision_ops

        define_torchvision_ops()
    if args.mmaudio:
        sys.path.insert(0, str(args.mmaudio.resolve()))
    weights = args.weights.resolve()
    os.environ["HF_HUB_OFFLINE"] = "1"  # before anything imports huggingface_hub
    if (weights / "hf_hub").is_dir() or args.build_random:
        os.environ["HF_HUB_CACHE"] = str(weights / "hf_hub")
    rows = []
    for variant in args.variants.split(","):
        if args.build_random:
            from bench.mmaudio_check import build_weights

            start = time.perf_counter()
            build_weights(weights, variant)
            print(f"random weights for {variant}: {time.perf_counter() - start:.0f} s", flush=True)
        rows.append(measure(variant, weights, args.out / variant, args))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{rows[0]['gpu']}, torch {rows[0]['torch']}, {rows[0]['dtype']}, {args.num_steps} steps, foreground "
          f"layers of one {args.window_s:g} s window:\n")
    print(f"| variant | load s | first layer s | warm layer s | {args.layers} single s | batch of {args.layers} s | "
          f"audio s per GPU-s (single / batch) | peak GiB (batch of {args.layers}) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['load_s']:.1f} | {r['first_layer_s']:.2f} | {r['warm_layer_s']:.2f} | "
              f"{r['single_s']:.2f} | {r['batch_s']:.2f} | {r['audio_per_gpu_s_single']:.1f} / "
              f"{r['audio_per_gpu_s_batch']:.1f} | {r['peak_gib']:.1f} ({r['peak_batch_gib']:.1f}) |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
