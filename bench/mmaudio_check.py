"""lvas's render path on MMAudio's own code, with random weights: a repeatable check (not a test).

    .venv/bin/python bench/mmaudio_check.py --mmaudio PATH [--variant small_16k] [--device cpu]
        [--num-steps 25] [--stub-image-encoders] [--weights DIR] [--out DIR] [--scenes 5,8,20]

PATH is a local checkout of MMAudio (https://github.com/hkchengrex/MMAudio; obtain it yourself,
it is never part of lvas) whose dependencies are installed (``pip install -e PATH`` does both).
MMAudio is not on any package registry, so this is a script, not a test.

1. Weights (once per variant, in ``--weights``, default bench/out/mmaudio-check/weights): every
   network MMAudio loads, built by MMAudio's (and open_clip's) own constructors with random
   weights and saved in the layout lvas reads (``lvas.backends.mmaudio_backend.required_files``):
   ``weights/mmaudio_<variant>.pth``, ``ext_weights/`` (VAE, Synchformer, the 16 kHz BigVGAN), and
   a Hugging Face hub cache ``hf_hub/`` holding the DFN5B CLIP and, for 44.1 kHz variants,
   BigVGAN v2 (``config.json`` with the published model's architecture). MMAudio leaves
   ``latent_mean``/``latent_std`` NaN until a checkpoint sets them (set here to 0 and 1), and
   zero-initialises its adaLN modulation and output layers (given small random values here, so
   the network's output is not zero and every layer is exercised).
2. Render: a generated 33 s clip with scenes of 5, 8 and 20 s, each designed with a foreground
   sound (a video-to-audio event per scene) and the same ambience (one text-to-audio event, a bed
   continuing across the cuts), through ``lvas.pipeline.render_videos`` (the render task's own
   function: events, windows, batching across the scenes, crossfades, markers).
3. Check each event's WAV: length to the sample, rate, channels, finite and not silent.

The audio is noise shaped by random networks: this checks that lvas drives MMAudio's real code
correctly (shapes, dtypes, devices, offline loading, lengths), not what it sounds like.

On the CPU, ``--stub-image-encoders`` replaces the two image encoders (CLIP on 384x384 frames at
8 fps, Synchformer on 224x224 at 25 fps; minutes per window on a CPU) by functions that return
features of their shape and dtype; everything else runs. On a GPU run everything (the default).

``--define-torchvision-ops``: only where the torchvision installed is a CUDA build next to a CPU
build of torch (its compiled operators cannot load, and importing it then fails with "operator
torchvision::nms does not exist"): declares the two operators torchvision registers fake kernels
for at import, through torch.library, so its Python transforms import. Not needed otherwise.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LIBRARIES: list[Any] = []
REVISION = "0" * 40  # the snapshot name of the hand-made hub cache entries
SCENES = (5.0, 8.0, 20.0)  # scene lengths of the clip, one after the other
# nvidia/bigvgan_v2_44khz_128band_512x's architecture (its published config.json); training-only
# fields left out.
BIGVGAN_V2_44K = {
    "resblock": "1", "upsample_rates": [8, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4],
    "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "use_tanh_at_final": False,
    "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True, "num_mels": 128,
    "n_fft": 2048, "hop_size": 512, "win_size": 2048, "sampling_rate": 44100, "fmin": 0, "fmax": None,
}


def define_torchvision_ops() -> None:
    """Declare ``torchvision::nms`` and ``torchvision::qnms`` (see the module docstring)."""
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    LIBRARIES.append(lib)  # a Library's definitions live as long as the object


# --------------------------------------------------------------------------- weights


def hub_snapshot(root: Path, repo: str) -> Path:
    """A hub cache entry for ``repo`` under ``root/hf_hub`` that huggingface_hub finds offline."""
    entry = root / "hf_hub" / f"models--{repo.replace('/', '--')}"
    (entry / "refs").mkdir(parents=True, exist_ok=True)
    (entry / "refs" / "main").write_text(REVISION)
    snapshot = entry / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def build_weights(root: Path, variant: str) -> None:
    """Random weights for ``variant`` in the layout lvas reads (see the module docstring); files
    already there (another variant's, which share them) are kept."""
    import torch
    from torch import nn

    from lvas.backends.mmaudio_backend import required_files

    eval_utils = importlib.import_module("mmaudio.eval_utils")
    networks = importlib.import_module("mmaudio.model.networks")
    vae = importlib.import_module("mmaudio.ext.autoencoder.vae")
    synchformer = importlib.import_module("mmaudio.ext.synchformer")
    torch.manual_seed(0)
    files = required_files(variant, root)
    mode = eval_utils.all_model_cfg[variant].mode
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)

    def save(what: str, state: dict[str, Any], path: Path) -> None:
        torch.save(state, path)
        tensors = state.get("generator", state)
        print(f"  {what}: {sum(v.numel() for v in tensors.values()) / 1e6:.0f} M values -> {path.relative_to(root)}",
              flush=True)

    # One folder serves every variant, as MMAudio's own does: what another variant built is kept.
    if not files["network"].exists():
        net = networks.get_my_mmaudio(variant)
        with torch.no_grad():
            net.latent_mean.fill_(0.0)
            net.latent_std.fill_(1.0)
            for name, param in net.named_parameters():
                if ("adaLN_modulation" in name or name.startswith("final_layer.")) and not param.abs().any():
                    nn.init.normal_(param, std=0.02)
        save("network", net.state_dict(), files["network"])
        del net
    if not files["vae"].exists():
        save("VAE", vae.get_my_vae(mode).state_dict(), files["vae"])
    if not files["synchformer"].exists():
        save("Synchformer", synchformer.Synchformer().state_dict(), files["synchformer"])
    if "bigvgan_16k" in files and files["bigvgan_16k"].exists():
        pass
    elif "bigvgan_16k" in files:
        bigvgan = importlib.import_module("mmaudio.ext.bigvgan.models")
        from omegaconf import OmegaConf

        config = Path(bigvgan.__file__).parent / "bigvgan_vocoder.yml"
        vocoder = bigvgan.BigVGANVocoder(OmegaConf.load(config))
        save("BigVGAN 16 kHz", {"generator": vocoder.state_dict()}, files["bigvgan_16k"])
        del vocoder
    elif not (root / "hf_hub" / "models--nvidia--bigvgan_v2_44khz_128band_512x").is_dir():
        v2 = importlib.import_module("mmaudio.ext.bigvgan_v2.bigvgan")
        snapshot = hub_snapshot(root, "nvidia/bigvgan_v2_44khz_128band_512x")
        (snapshot / "config.json").write_text(json.dumps(BIGVGAN_V2_44K, indent=2))
        vocoder = v2.BigVGAN(v2.load_hparams_from_json(snapshot / "config.json"), use_cuda_kernel=False)
        save("BigVGAN v2", {"generator": vocoder.state_dict()}, snapshot / "bigvgan_generator.pt")
        del vocoder
    gc.collect()
    if not (root / "hf_hub" / "models--apple--DFN5B-CLIP-ViT-H-14-384").is_dir():
        build_clip(root)


def build_clip(root: Path) -> None:
    """The DFN5B CLIP (open_clip's ViT-H-14-378-quickgelu) with random weights, as an open_clip hub
    repository: ``open_clip_config.json`` and ``open_clip_model.safetensors`` (bf16, to halve it)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    name = "ViT-H-14-378-quickgelu"
    model = open_clip.create_model(name)
    snapshot = hub_snapshot(root, "apple/DFN5B-CLIP-ViT-H-14-384")
    config = {"model_cfg": open_clip.get_model_config(name),
              "preprocess_cfg": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "interpolation": "bicubic",
                                 "resize_mode": "squash"}}
    (snapshot / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    del model
    save_file(state, str(snapshot / "open_clip_model.safetensors"))
    print(f"  CLIP: {sum(v.numel() for v in state.values()) / 1e6:.0f} M values -> "
          f"{(snapshot / 'open_clip_model.safetensors').relative_to(root)}", flush=True)


# --------------------------------------------------------------------------- render


def stub_image_encoders(model: Any) -> None:
    """Replace CLIP's and Synchformer's video encoders on this loaded model by functions that give
    features of their shape (CLIP: one per frame; Synchformer: 8 per 16-frame segment every 8
    frames) and dtype, from a fixed generator."""
    import torch

    net, features = model.net, model.feature_utils
    clip_dim = net.get_empty_clip_sequence(1).shape[-1]
    sync_dim = net.get_empty_sync_sequence(1).shape[-1]
    gen = torch.Generator().manual_seed(0)

    def fake(b: int, t: int, d: int) -> Any:
        x = torch.randn(b, t, d, generator=gen)
        return torch.nn.functional.normalize(x, dim=-1).to(features.device, features.dtype)

    def clip(x: Any, batch_size: int = -1) -> Any:
        return fake(x.shape[0], x.shape[1], clip_dim)

    def sync(x: Any, batch_size: int = -1) -> Any:
        return fake(x.shape[0], ((x.shape[1] - 16) // 8 + 1) * 8, sync_dim)

    features.encode_video_with_clip = clip
    features.encode_video_with_sync = sync


def designed_layout(out: Path, spans: list[tuple[float, float]]) -> tuple[Any, Any]:
    """An output folder holding one generated clip (a moving gradient, as long as the last span)
    with ``spans`` as its scenes, each designed with a foreground and a background sound (the
    video's design table collected, as the design stage leaves it)."""
    import numpy as np

    from lvas import pipeline
    from lvas.agents.artifacts import save_designs, save_script
    from lvas.models import (
        Caption,
        DesignRound,
        Scene,
        SceneDesign,
        Script,
        SoundDesign,
        SoundItem,
        VideoRef,
    )
    from lvas.storage.layout import Layout
    from tests.clips import make_clip

    clip = out / "clip.mp4"
    if not clip.exists():
        x = np.linspace(0, 255, 160)[None, :, None]
        make_clip(clip, lambda i, t: np.broadcast_to((x + 40 * t) % 256, (90, 160, 3)).astype(np.uint8),
                  seconds=spans[-1][1], size=(160, 90))
    layout = Layout(out)
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip")
    caption = Caption(summary="a dog runs through a park")
    scenes = [Scene(index=i, start_s=a, end_s=b, shot_indices=[i], caption=caption) for i, (a, b) in enumerate(spans)]
    layout.script(video.video_id).parent.mkdir(parents=True, exist_ok=True)
    save_script(layout.script(video.video_id), Script(video_id=video.video_id, global_description="",
                                                      shot_captions=[caption] * len(spans), decisions=[],
                                                      scenes=scenes))
    for i in range(len(spans)):
        design = SoundDesign(audio=[SoundItem(description="dog barking", label="dog barking")],
                             background=[SoundItem(description="wind in trees", label="wind noise")])
        save_designs(layout.scene_design(video.video_id, i),
                     [SceneDesign(video_id=video.video_id, scene_index=i,
                                  rounds=[DesignRound(round=1, design=design, verdict="final")])])
    pipeline.collect_designs(layout, video, len(spans))
    return layout, video


def check(args: argparse.Namespace, root: Path) -> int:
    import numpy as np
    import soundfile as sf

    from lvas import pipeline
    from lvas.backends.mmaudio_backend import find_hub_models, load_model
    from lvas.render import event_key, event_specs
    from lvas.settings import Settings, SynthSettings

    s = Settings(synth=SynthSettings(backend="mmaudio", variant=args.variant, weights_dir=str(root),
                                     device=args.device, num_steps=args.num_steps))
    t0 = time.perf_counter()
    model = load_model(s.synth, args.device)
    load_s = time.perf_counter() - t0
    print(f"loaded {args.variant} on {args.device} ({model.dtype}) in {load_s:.1f} s; hub models "
          f"{find_hub_models(args.variant, root)}; model rate {model.sample_rate} Hz", flush=True)
    if args.stub_image_encoders:
        stub_image_encoders(model)
        print("image encoders stubbed (CLIP and Synchformer video features of their shape)", flush=True)
    ends = np.cumsum(args.scenes).tolist()
    spans = [(float(end - length), float(end)) for length, end in zip(args.scenes, ends, strict=True)]
    layout, video = designed_layout(args.out or root.parent / f"render-{args.variant}", spans)
    scenes = [(video, i) for i in range(len(spans))]
    t0 = time.perf_counter()
    failed = pipeline.render_videos(layout, scenes, s)
    render_s = time.perf_counter() - t0
    problems = [f"scene {i}: {type(exc).__name__}: {exc}" for (_, i), exc in failed.items()]
    specs = event_specs(video, pipeline.video_events(layout, video, s), s.synth)
    print(f"rendered {len(spans)} scenes ({ends[-1]:g} s, {len(specs)} events) in "
          f"{render_s:.1f} s", flush=True)
    print("| scene | event | layer | seconds | rate | channels | frames (expected) | finite | RMS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in specs:
        path = layout.event_wav(video.video_id, spec.scene_index, event_key(spec, s.synth, pipeline.RENDER_VERSION))
        what = f"scene {spec.scene_index} event {spec.event} ({spec.kind})"
        if not path.exists():
            problems.append(f"{what}: not rendered")
            continue
        audio, rate = sf.read(path, always_2d=True)
        expected = round((spec.end_s - spec.start_s) * s.synth.sample_rate)
        finite = bool(np.all(np.isfinite(audio)))
        rms = float(np.sqrt(np.mean(audio**2))) if finite else float("nan")
        print(f"| {spec.scene_index} | {spec.event} | {spec.kind} | {spec.end_s - spec.start_s:g} | {rate} | "
              f"{audio.shape[1]} | {len(audio)} ({expected}) | {finite} | {rms:.4f} |")
        if (rate, audio.shape[1], len(audio)) != (s.synth.sample_rate, s.synth.channels, expected):
            problems.append(f"{what}: {rate} Hz, {audio.shape[1]} channels, {len(audio)} frames")
        if not finite or rms == 0:
            problems.append(f"{what}: {'not finite' if not finite else 'silent'}")
    for problem in problems:
        print("PROBLEM:", problem)
    print("check passed" if not problems else f"check FAILED ({len(problems)} problems)")
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mmaudio", type=Path, required=True, help="a local MMAudio checkout")
    ap.add_argument("--variant", default="small_16k")
    ap.add_argument("--device", default="cpu", help="cpu (float32) or cuda (bf16)")
    ap.add_argument("--num-steps", type=int, default=25, help="flow-matching steps (fewer on a CPU)")
    ap.add_argument("--stub-image-encoders", action="store_true", help="CPU: skip CLIP/Synchformer on frames")
    ap.add_argument("--define-torchvision-ops", action="store_true",
                    help="only for a CUDA torchvision next to a CPU torch (see above)")
    ap.add_argument("--weights", type=Path, help="weights folder (built if absent)")
    ap.add_argument("--scenes", type=lambda text: [float(x) for x in text.split(",")], default=list(SCENES),
                    help="scene lengths in seconds, comma-separated (default 5,8,20)")
    ap.add_argument("--out", type=Path, help="render folder (default: render-VARIANT beside the weights)")
    args = ap.parse_args()
    if not (args.mmaudio / "mmaudio" / "eval_utils.py").is_file():
        raise SystemExit(f"{args.mmaudio}: not an MMAudio checkout (no mmaudio/eval_utils.py)")
    sys.path.insert(0, str(args.mmaudio.resolve()))
    root = (args.weights or ROOT / "bench" / "out" / "mmaudio-check" / "weights").resolve()
    # Before anything imports huggingface_hub: read the hand-made cache, never the network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_CACHE"] = str(root / "hf_hub")
    if args.define_torchvision_ops:
        define_torchvision_ops()
    built = root / f"random-weights-{args.variant}.json"
    if not built.is_file():
        print(f"building random weights for {args.variant} in {root}", flush=True)
        t0 = time.perf_counter()
        build_weights(root, args.variant)
        built.write_text(json.dumps({"variant": args.variant, "seconds": round(time.perf_counter() - t0)}))
        print(f"built in {time.perf_counter() - t0:.0f} s", flush=True)
        gc.collect()
    return check(args, root)


if __name__ == "__main__":
    raise SystemExit(main())
