"""MMAudio (hkchengrex/MMAudio) as a synthesizer backend, for CUDA workers.

Follows MMAudio's own inference API (``mmaudio.eval_utils.generate`` with models passed by
keyword): the network (``get_my_mmaudio``), ``FeaturesUtils`` (CLIP, Synchformer, VAE, vocoder)
and ``FlowMatching`` are loaded once per worker process and cached by (variant, weights folder,
device). Weights are read from ``settings.synth.weights_dir`` laid out as in the MMAudio
repository (``weights/mmaudio_<variant>.pth``, ``ext_weights/...``); nothing is downloaded at run
time: Hugging Face is forced offline and every file is checked before loading.

- foreground layers: video-to-audio on the scene's own frames (CLIP frames at 8 fps, 384x384;
  Synchformer frames at 25 fps, 224x224 centre crop) with the chosen labels as the prompt;
- background layers: text-to-audio (both videos None);
- the negative prompt (default: speech and music) steers away from gibberish speech and music;
- scenes longer than the model window (8 s, what MMAudio was trained on) are rendered as
  overlapping windows of equal length and crossfaded;
- windows of equal length of all the layers given to :meth:`MMAudioSynth.render_batch` (the scenes
  and videos of one render task) share batched ``generate`` calls of at most
  ``settings.batch_windows``; the next call's frames are decoded while the GPU runs the current one.

``mmaudio`` is not on PyPI: ``pip install git+https://github.com/hkchengrex/MMAudio``.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.signal import resample_poly

from lvas.backends.synth import (
    LayerJob,
    ModelCall,
    call_seed,
    fit_channels,
    join_windows,
    layer_windows,
    plan_calls,
    run_calls,
    write_wav,
)
from lvas.errors import BackendUnavailable, RenderError
from lvas.models import LayerSpec, RenderedLayer
from lvas.settings import SynthSettings

if TYPE_CHECKING:
    from lvas.storage.layout import Layout

log = logging.getLogger(__name__)

INSTALL = "pip install git+https://github.com/hkchengrex/MMAudio"
CLIP_FPS, CLIP_SIZE = 8.0, 384
SYNC_FPS, SYNC_SIZE = 25.0, 224

# MMAudio's weight layout relative to its repository root (mmaudio/eval_utils.py ModelConfig).
_EXT = {"16k": ("ext_weights/v1-16.pth", "ext_weights/best_netG.pt"), "44k": ("ext_weights/v1-44.pth", None)}
_MODE = {
    "small_16k": "16k",
    "small_44k": "44k",
    "medium_44k": "44k",
    "large_44k": "44k",
    "large_44k_v2": "44k",
}
# Fetched by FeaturesUtils from the Hugging Face hub; they must already be in the local hub cache.
# The DFN5B CLIP is cached under either name: MMAudio asks open_clip for ``...-384``, and open_clip
# now maps the model to the hub repository ``...-378``.
_HUB_REPOS = {
    "clip": ("apple/DFN5B-CLIP-ViT-H-14-384", "apple/DFN5B-CLIP-ViT-H-14-378"),
    "bigvgan_44k": ("nvidia/bigvgan_v2_44khz_128band_512x",),
}


def required_files(variant: str, weights_dir: str | Path) -> dict[str, Path]:
    """Every weight file ``variant`` needs under ``weights_dir`` (MMAudio's repository layout)."""
    mode = _MODE[variant]
    root = Path(weights_dir).expanduser()
    vae, bigvgan = _EXT[mode]
    files = {
        "network": root / "weights" / f"mmaudio_{variant}.pth",
        "vae": root / vae,
        "synchformer": root / "ext_weights" / "synchformer_state_dict.pth",
    }
    if bigvgan:
        files["bigvgan_16k"] = root / bigvgan
    return files


def _hub_cache(weights_dir: Path) -> Path:
    """The Hugging Face hub cache to use: ``<weights_dir>/hf_hub`` if present, else the user's."""
    local = weights_dir / "hf_hub"
    if local.is_dir():
        return local
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    return Path(os.environ.get("HF_HUB_CACHE", home / "hub"))


def missing_requirements(settings: SynthSettings, device: str | None = None) -> list[str]:
    """What stops MMAudio from running here, each item saying what to install or set (empty = ready).

    Arguments:
        settings: the synth section (variant, weights folder).
        device: the torch device to check for; ``settings.device`` when None.
    """
    device = device or settings.device
    problems: list[str] = []
    try:
        importlib.import_module("mmaudio")
    except ImportError:
        problems.append(f"the `mmaudio` package is not installed: `{INSTALL}` on the GPU workers")
    try:
        import torch
    except ImportError:
        problems.append("torch is not installed: install a CUDA build of torch on the GPU workers")
    else:
        if device.startswith("cuda") and not torch.cuda.is_available():
            problems.append(
                "no CUDA device on this worker: run the render stage on GPU workers "
                f"(Dask resource {settings.gpu_resource!r}, settings run.gpu_workers / run.dask_address)"
            )
    if not settings.weights_dir:
        problems.append(
            "no weights folder: set LVAS_SYNTH__WEIGHTS_DIR to a folder holding MMAudio's "
            f"weights/mmaudio_{settings.variant}.pth and ext_weights/ (as MMAudio's download_if_needed "
            "lays them out) plus hf_hub/ with " + ", ".join(_needed_hub_repos(settings.variant))
        )
        return problems
    root = Path(settings.weights_dir).expanduser()
    absent = [str(p) for p in required_files(settings.variant, root).values() if not p.is_file()]
    if absent:
        problems.append(f"MMAudio weights missing under LVAS_SYNTH__WEIGHTS_DIR={root}: " + ", ".join(absent))
    hub = _hub_cache(root)
    for name, found in find_hub_models(settings.variant, root).items():
        if found is None:
            names = " or ".join(_HUB_REPOS[name])
            problems.append(
                f"Hugging Face model {names} is not in the local hub cache {hub} "
                f"(copy it there, e.g. to {root / 'hf_hub'}; nothing is downloaded at run time)"
            )
    return problems


def find_hub_models(variant: str, weights_dir: str | Path) -> dict[str, str | None]:
    """Which hub repository of each Hugging Face model ``variant`` needs is in the local hub cache.

    Arguments:
        variant: the MMAudio variant (44 kHz variants also need BigVGAN v2).
        weights_dir: the weights folder (its ``hf_hub/`` is the cache if present, else the user's).

    Returns:
        ``{"clip": repo or None, "bigvgan_44k": repo or None}`` (BigVGAN only for 44 kHz variants):
        the first of the model's accepted names with a snapshot in the cache, None if none has one.
    """
    hub = _hub_cache(Path(weights_dir).expanduser())
    found: dict[str, str | None] = {}
    for name in ("clip", "bigvgan_44k") if _MODE[variant] == "44k" else ("clip",):
        found[name] = next((repo for repo in _HUB_REPOS[name] if _has_snapshot(hub, repo)), None)
    return found


def _has_snapshot(hub: Path, repo: str) -> bool:
    snapshots = hub / f"models--{repo.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def _needed_hub_repos(variant: str) -> list[str]:
    """The first accepted name of each hub model ``variant`` needs (what a fresh cache should hold)."""
    repos = [_HUB_REPOS["clip"][0]]
    if _MODE[variant] == "44k":
        repos.append(_HUB_REPOS["bigvgan_44k"][0])
    return repos


# --------------------------------------------------------------------------- model cache


@dataclass
class LoadedModel:
    """One worker's MMAudio: the network, feature extractors and the config they were built with."""

    net: Any
    feature_utils: Any
    model_cfg: Any
    device: str
    dtype: Any
    # One model call at a time: a call sets the network's sequence lengths for its window length.
    # Two render tasks in one worker (threads) then overlap one's CPU work with the other's call.
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def sample_rate(self) -> int:
        return int(self.model_cfg.seq_cfg.sampling_rate)


_MODELS: dict[tuple[str, str, str], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def load_model(settings: SynthSettings, device: str = "cuda") -> LoadedModel:
    """Load (once per process) MMAudio ``settings.variant`` from ``settings.weights_dir``.

    bf16 on CUDA, float32 elsewhere. Hugging Face is forced offline so a missing file fails here
    with a clear message instead of starting a download.

    Raises:
        BackendUnavailable: the package, the GPU or any weight file is missing.
    """
    problems = missing_requirements(settings, device)
    if problems:
        raise BackendUnavailable("MMAudio cannot run here:\n  - " + "\n  - ".join(problems))
    root = Path(settings.weights_dir or "").expanduser().absolute()
    key = (settings.variant, str(root), device)
    with _LOAD_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        import torch

        # FeaturesUtils fetches CLIP (and BigVGAN for 44k) through huggingface_hub: offline, from
        # the folder checked above. huggingface_hub reads these variables when first imported, so
        # if something in this worker imported it earlier, set them in the worker's environment.
        wanted = {"HF_HUB_OFFLINE": "1"}
        if (root / "hf_hub").is_dir():
            wanted["HF_HUB_CACHE"] = str(root / "hf_hub")
        already = all(os.environ.get(k) == v for k, v in wanted.items())
        os.environ.update(wanted)
        if "huggingface_hub" in sys.modules and not already:
            log.warning(
                "huggingface_hub was imported before MMAudio: HF_HUB_OFFLINE/HF_HUB_CACHE may not apply"
            )
        eval_utils = importlib.import_module("mmaudio.eval_utils")
        networks = importlib.import_module("mmaudio.model.networks")
        features = importlib.import_module("mmaudio.model.utils.features_utils")
        base = eval_utils.all_model_cfg[settings.variant]
        # MMAudio's configs hold paths relative to its repository; point them into weights_dir.
        cfg = dataclasses.replace(
            base,
            model_path=root / base.model_path,
            vae_path=root / base.vae_path,
            bigvgan_16k_path=None if base.bigvgan_16k_path is None else root / base.bigvgan_16k_path,
            synchformer_ckpt=root / base.synchformer_ckpt,
        )
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        net = networks.get_my_mmaudio(cfg.model_name).to(device, dtype).eval()
        net.load_weights(torch.load(cfg.model_path, map_location=device, weights_only=True))
        feature_utils = features.FeaturesUtils(
            tod_vae_ckpt=cfg.vae_path,
            synchformer_ckpt=cfg.synchformer_ckpt,
            enable_conditions=True,
            mode=cfg.mode,
            bigvgan_vocoder_ckpt=cfg.bigvgan_16k_path,
            need_vae_encoder=False,
        )
        feature_utils = feature_utils.to(device, dtype).eval()
        hub = ", ".join(f"{name} as {repo}" for name, repo in find_hub_models(settings.variant, root).items())
        log.info("MMAudio %s loaded from %s on %s (%s); hub models: %s", settings.variant, root, device, dtype, hub)
        _MODELS[key] = LoadedModel(net, feature_utils, cfg, device, dtype)
        return _MODELS[key]


# --------------------------------------------------------------------------- frames


def decode_conditioning_frames(
    video_path: str | Path, start_s: float, end_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frames MMAudio conditions on for ``[start_s, end_s)``, as uint8 arrays.

    Returns:
        ``clip`` ``(floor(8 * d), 384, 384, 3)`` (resized, like MMAudio's clip transform) and
        ``sync`` ``(floor(25 * d), 224, 224, 3)`` (short side 224, centre crop), ``d = end_s - start_s``;
        each target time takes the last frame shown at that time (MMAudio's read_frames rule).

    Raises:
        RenderError: the file cannot be decoded or has no frames in the span.
    """
    import av

    duration = end_s - start_s
    n_clip, n_sync = int(CLIP_FPS * duration + 1e-6), int(SYNC_FPS * duration + 1e-6)
    clip_t = start_s + np.arange(n_clip) / CLIP_FPS
    sync_t = start_s + np.arange(n_sync) / SYNC_FPS
    clip: list[np.ndarray] = []
    sync: list[np.ndarray] = []
    try:
        with av.open(str(video_path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if start_s > 0:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
            last = None
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else 0.0
                while len(clip) < n_clip and last is not None and clip_t[len(clip)] < t:
                    clip.append(_clip_image(last))
                while len(sync) < n_sync and last is not None and sync_t[len(sync)] < t:
                    sync.append(_sync_image(last))
                if len(clip) >= n_clip and len(sync) >= n_sync:
                    break
                last = frame
            # The span's tail (or a seek that landed late): hold the last frame.
            while last is not None and len(clip) < n_clip:
                clip.append(_clip_image(last))
            while last is not None and len(sync) < n_sync:
                sync.append(_sync_image(last))
    except av.error.FFmpegError as exc:
        raise RenderError(f"cannot decode {video_path} for MMAudio conditioning: {exc}") from exc
    if not clip or not sync:
        raise RenderError(f"{video_path}: no frames between {start_s:.2f} s and {end_s:.2f} s")
    return np.stack(clip), np.stack(sync)


def _upright(frame: Any, img: np.ndarray) -> np.ndarray:
    """Apply the stream's display rotation (phone videos): the model should see what a viewer sees."""
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # counter-clockwise quarter turns
    return np.ascontiguousarray(np.rot90(img, turns)) if turns else img


def _clip_image(frame: Any) -> np.ndarray:
    img = frame.to_ndarray(width=CLIP_SIZE, height=CLIP_SIZE, format="rgb24", interpolation="BICUBIC")
    return _upright(frame, img)


def _sync_image(frame: Any) -> np.ndarray:
    # Short side to 224, then the centre square; rotating the square afterwards gives the same
    # pixels as cropping the rotated frame (the short side and the centre do not change).
    scale = SYNC_SIZE / min(frame.width, frame.height)
    w, h = max(SYNC_SIZE, round(frame.width * scale)), max(SYNC_SIZE, round(frame.height * scale))
    img = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="BICUBIC")
    top, left = (h - SYNC_SIZE) // 2, (w - SYNC_SIZE) // 2
    return _upright(frame, img[top : top + SYNC_SIZE, left : left + SYNC_SIZE])


# --------------------------------------------------------------------------- synthesizer


def _conditioned(spec: LayerSpec) -> bool:
    """Video-to-audio: a foreground layer or event of a video (``lvas compose`` has no video)."""
    return spec.kind == "foreground" and bool(spec.video_path)


class MMAudioSynth:
    """MMAudio as a :class:`~lvas.backends.synth.BatchSynthesizer` (see the module docstring)."""

    name = "mmaudio"

    def __init__(self, settings: SynthSettings, device: str | None = None) -> None:
        """Check that MMAudio can run here; the model itself loads on first render.

        Arguments:
            settings: the synth section.
            device: ``cuda`` (bf16) or ``cuda:N``; ``cpu`` runs float32, only to check the path;
                None = ``settings.device`` (``LVAS_SYNTH__DEVICE``, default ``cuda``).

        Raises:
            BackendUnavailable: the package, the GPU or a weight file is missing (all are listed).
        """
        device = device or settings.device
        self.settings = settings
        self.device = device
        problems = missing_requirements(settings, device)
        if problems:
            raise BackendUnavailable("MMAudio cannot run here:\n  - " + "\n  - ".join(problems))
        if not device.startswith("cuda"):
            log.warning("MMAudio runs on %s in float32: slow, for checking the render path without a GPU",
                        device)

    def render(
        self,
        spec: LayerSpec,
        out_wav: str | Path,
        *,
        sample_rate: int,
        channels: int,
        layout: Layout | None = None,
    ) -> RenderedLayer:
        """Render ``spec`` with MMAudio (windowed, batched, crossfaded) to ``out_wav``.

        Arguments:
            spec: the layer or timed event; foreground ones are conditioned on ``spec.video_path``'s
                frames over exactly their span; an empty ``video_path`` (``lvas compose``) is text-to-audio.
            out_wav: destination WAV, written atomically.
            sample_rate: output rate; the model's own rate is resampled to it.
            channels: 1 or 2 (MMAudio is mono; stereo duplicates it).
            layout: unused (MMAudio sees the frames themselves).

        Returns:
            The rendered layer.

        Raises:
            BackendUnavailable: the model cannot be loaded here.
            RenderError: the scene's frames cannot be decoded.
        """
        (done,) = self.render_batch([LayerJob(spec, Path(out_wav))], sample_rate=sample_rate, channels=channels)
        if isinstance(done, Exception):
            raise done
        return done

    def render_batch(
        self, jobs: Sequence[LayerJob], *, sample_rate: int, channels: int, layout: Layout | None = None
    ) -> list[RenderedLayer | Exception]:
        """Render several layers (of any scenes and videos), equal windows sharing ``generate`` calls.

        Arguments:
            jobs: the layers and their WAV paths.
            sample_rate: output rate; the model's own rate is resampled to it.
            channels: 1 or 2 (MMAudio is mono; stereo duplicates it).
            layout: unused (MMAudio sees the frames themselves).

        Returns:
            Per job, its rendered layer or the error that stopped it (frames that cannot be decoded
            fail their layer; a failed ``generate`` call fails the layers it served).

        Raises:
            BackendUnavailable: the model cannot be loaded here.
        """
        import torch

        model = load_model(self.settings, self.device)
        plans = [layer_windows(job.spec, self.settings) for job in jobs]
        calls = plan_calls([(_conditioned(job.spec), plan) for job, plan in zip(jobs, plans, strict=True)],
                           self.settings.batch_windows)

        def prepare(j: int, w: int) -> tuple[np.ndarray, np.ndarray] | None:
            # Decoded per window so each starts exactly on its own time.
            spec, (a, b) = jobs[j].spec, plans[j][w]
            if not _conditioned(spec):
                return None
            return decode_conditioning_frames(spec.video_path, spec.start_s + a, spec.start_s + b)

        def generate(call: ModelCall, inputs: list[Any]) -> list[np.ndarray]:
            specs = [jobs[j].spec for j, _ in call.windows]
            with torch.inference_mode():
                return self._generate(model, specs, call, inputs if call.conditioned else None)

        def finish(j: int, chunks: list[np.ndarray]) -> RenderedLayer:
            spec = jobs[j].spec
            native = model.sample_rate
            joined = join_windows(chunks, plans[j], native)
            if native != sample_rate:
                g = np.gcd(native, sample_rate)
                joined = resample_poly(joined, sample_rate // g, native // g, axis=0)
            n = round((spec.end_s - spec.start_s) * sample_rate)
            out = fit_channels(joined, channels)[:n]
            out = np.pad(out, ((0, n - len(out)), (0, 0)))
            write_wav(jobs[j].out_wav, out.astype(np.float32), sample_rate)
            return RenderedLayer(spec=spec, wav_path=str(jobs[j].out_wav), sample_rate=sample_rate,
                                 backend=self.name)

        return run_calls(calls, [len(p) for p in plans], prepare=prepare, generate=generate, finish=finish)

    def _generate(
        self,
        model: LoadedModel,
        specs: list[LayerSpec],
        call: ModelCall,
        frames: list[tuple[np.ndarray, np.ndarray]] | None,
    ) -> list[np.ndarray]:
        """One batched ``generate`` call for the call's windows (``specs``: each window's layer);
        ``(samples, 1)`` each."""
        import torch

        eval_utils = importlib.import_module("mmaudio.eval_utils")
        flow = importlib.import_module("mmaudio.model.flow_matching")
        batch, duration = len(specs), call.duration
        seq_cfg = copy.copy(model.model_cfg.seq_cfg)  # never mutate MMAudio's module-level config
        seq_cfg.duration = duration
        clip_video = sync_video = None
        if frames is not None:
            clip_video = _batch_tensor([f[0] for f in frames], CLIP_FPS, duration, normalise=False)
            sync_video = _batch_tensor([f[1] for f in frames], SYNC_FPS, duration, normalise=True)
        seed = call_seed([spec.seed for spec in specs], call.windows)
        rng = torch.Generator(device=model.device).manual_seed(seed)
        fm = flow.FlowMatching(min_sigma=0, inference_mode="euler", num_steps=self.settings.num_steps)
        with model.lock:
            model.net.update_seq_lengths(seq_cfg.latent_seq_len, seq_cfg.clip_seq_len, seq_cfg.sync_seq_len)
            audio = eval_utils.generate(
                clip_video,
                sync_video,
                [spec.prompt for spec in specs],
                negative_text=[spec.negative_prompt or self.settings.negative_prompt for spec in specs],
                feature_utils=model.feature_utils,
                net=model.net,
                fm=fm,
                rng=rng,
                cfg_strength=self.settings.cfg_strength,
            )
            audio = audio.float().cpu().numpy().reshape(batch, -1)
        return [a[:, None] for a in audio]


def _batch_tensor(frames: list[np.ndarray], fps: float, duration: float, *, normalise: bool) -> Any:
    """``(B, T, 3, H, W)`` float tensor from per-window uint8 frames (T = int(fps * duration)).

    CLIP frames are scaled to [0, 1]; Synchformer frames are also normalised to [-1, 1] (mean and
    std 0.5), as MMAudio's transforms do.
    """
    import torch

    count = int(fps * duration + 1e-6)
    fitted = []
    for sel in frames:
        if len(sel) < count:  # hold the last frame over a rounding shortfall
            sel = np.concatenate([sel, np.repeat(sel[-1:], count - len(sel), axis=0)])
        fitted.append(sel[:count])
    x = torch.from_numpy(np.stack(fitted)).permute(0, 1, 4, 2, 3).float() / 255.0
    return (x - 0.5) / 0.5 if normalise else x
