"""The model metrics of the LVAS-Agent paper's Table 1 through av-benchmark (github.com/hkchengrex/av-benchmark).

FD (VGGish, PANNs, PaSST), KL (PANNs, PaSST), IS (PANNs, PaSST), ImageBind score and DeSync
(Synchformer) are av-benchmark's own code: lvas writes the folder it reads, runs its two
commands as they are, and parses the JSON it writes. Nothing of it is imported or copied.

Layout under ``OUT/eval/avbench/`` (one item = one stem, its video and audio under that stem)::

    videos/<stem>.mp4              the dubbed video (the picture av-benchmark's extract_video.py reads)
    gt_audio/<stem>.wav            the reference audio
    gt_cache/                      extract_video.py's and evaluate.py's features of the reference
    systems/<system>/audio/<stem>.wav   the system's soundtrack
    systems/<system>/cache/output_metrics.json   what evaluate.py writes

Commands, run in the av-benchmark checkout (it finds ``weights/`` beside its package)::

    PYTHON extract_video.py --gt_cache gt_cache --video_path videos --gt_batch_size 1 --audio_length L
    PYTHON evaluate.py --gt_audio gt_audio --gt_cache gt_cache --pred_audio systems/S/audio
                       --pred_cache systems/S/cache --audio_length L --pred_batch_size 1 --skip_clap
                       --recompute_pred_cache

Weights come from local folders only: the checkout's ``weights/`` (Synchformer), and
``TORCH_HOME`` / ``HF_HOME`` pointed at ``WEIGHTS/torch`` and ``WEIGHTS/hf`` with the hubs
offline, so a missing checkpoint fails instead of downloading. It needs a CUDA GPU
(av-benchmark's device is ``cuda``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lvas.errors import LvasError

# av-benchmark's output keys -> lvas's column names (the paper's Table 1 metrics)
METRICS = {
    "FD-VGG": "fd_vggish", "FD-PANN": "fd_panns", "FD-PASST": "fd_passt",
    "KL-PANNS-softmax": "kl_panns", "KL-PASST-softmax": "kl_passt",
    "ISC-PANNS-mean": "is_panns", "ISC-PASST-mean": "is_passt",
    "IB-Score": "imagebind_score", "DeSync": "desync",
}
REQUIRED_WEIGHTS = ("synchformer_state_dict.pth",)
RESULT_FILE = "output_metrics.json"


class AvBenchUnavailable(LvasError):
    """av-benchmark cannot run here: not installed, no weights, or its command failed."""


@dataclass(frozen=True)
class AvBenchConfig:
    """Where av-benchmark is and how to run it.

    Attributes:
        repo: the av-benchmark checkout (holds ``evaluate.py``, ``extract_video.py``, ``weights/``).
        python: the interpreter of its environment (a name on PATH or a path).
        weights: folder with ``torch/`` and ``hf/`` model caches; None = ``repo/weights``.
        timeout_s: each command's limit.
    """

    repo: Path
    python: str = "python3"
    weights: Path | None = None
    timeout_s: float = 6 * 3600

    def problems(self) -> list[str]:
        """What keeps av-benchmark from running here, each said plainly (empty: it can run)."""
        out = []
        for script in ("evaluate.py", "extract_video.py"):
            if not (self.repo / script).is_file():
                out.append(f"av-benchmark is not installed at {self.repo} (no {script}; "
                           "git clone https://github.com/hkchengrex/av-benchmark and pip install -e it)")
                break
        if shutil.which(self.python) is None:
            out.append(f"av-benchmark's interpreter {self.python!r} is not on PATH")
        for name in REQUIRED_WEIGHTS:
            if not (self.repo / "weights" / name).is_file():
                out.append(f"weight {self.repo / 'weights' / name} is missing (lvas never downloads it)")
        return out

    def env(self) -> dict[str, str]:
        """The commands' environment: model caches in the weights folder, hubs offline."""
        weights = self.weights or self.repo / "weights"
        return {**os.environ, "TORCH_HOME": str(weights / "torch"), "HF_HOME": str(weights / "hf"),
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@dataclass(frozen=True)
class Item:
    """One evaluated video: its stem and the files av-benchmark reads."""

    stem: str
    video: Path
    reference: Path


class Layout:
    """The evaluation folder av-benchmark reads (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.videos = self.root / "videos"
        self.gt_audio = self.root / "gt_audio"
        self.gt_cache = self.root / "gt_cache"

    def audio(self, system: str) -> Path:
        """The folder of ``system``'s soundtracks, one ``<stem>.wav`` per item."""
        return self.root / "systems" / system / "audio"

    def cache(self, system: str) -> Path:
        """av-benchmark's feature cache of ``system``; it writes ``output_metrics.json`` here."""
        return self.root / "systems" / system / "cache"


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    try:
        dst.symlink_to(src.resolve())
    except OSError:
        shutil.copyfile(src, dst)


def write_layout(layout: Layout, items: Sequence[Item], system_audio: Mapping[str, Mapping[str, Path]]) -> None:
    """Lay out the items and every system's audio under their stems.

    Arguments:
        layout: the folder.
        items: the videos with a reference (the picture and the reference audio).
        system_audio: {system: {stem: its WAV}}; a stem missing for a system is left out of its folder.
    """
    for item in items:
        _place(item.video, layout.videos / f"{item.stem}{item.video.suffix}")
        _place(item.reference, layout.gt_audio / f"{item.stem}{item.reference.suffix}")
    for system, by_stem in system_audio.items():
        for stem, wav in by_stem.items():
            _place(wav, layout.audio(system) / f"{stem}.wav")


def commands(layout: Layout, config: AvBenchConfig, systems: Sequence[str], audio_length_s: float) -> list[list[str]]:
    """The av-benchmark commands for the layout: video features once, then one evaluation per system."""
    length = f"{max(1.0, math.ceil(audio_length_s)):g}"
    root = layout.root.resolve()
    cmds = [[config.python, "extract_video.py", "--gt_cache", str(root / "gt_cache"),
             "--video_path", str(root / "videos"), "--gt_batch_size", "1", "--audio_length", length]]
    for s in systems:
        cmds.append([config.python, "evaluate.py", "--gt_audio", str(root / "gt_audio"),
                     "--gt_cache", str(root / "gt_cache"), "--pred_audio", str(layout.audio(s).resolve()),
                     "--pred_cache", str(layout.cache(s).resolve()), "--audio_length", length,
                     "--pred_batch_size", "1", "--skip_clap", "--recompute_pred_cache"])
    return cmds


def parse_metrics(path: str | os.PathLike[str]) -> dict[str, float]:
    """av-benchmark's ``output_metrics.json`` as lvas's columns (:data:`METRICS`).

    Raises:
        AvBenchUnavailable: the file is missing, not JSON, not an object of numbers, or has none
            of the Table 1 metrics.
    """
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AvBenchUnavailable(f"av-benchmark wrote no {p}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AvBenchUnavailable(f"{p}: not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise AvBenchUnavailable(f"{p}: not a JSON object")
    out = {}
    for key, column in METRICS.items():
        value = raw.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[column] = float(value)
    if not out:
        raise AvBenchUnavailable(f"{p}: none of {', '.join(METRICS)}")
    return out


def run(layout: Layout, config: AvBenchConfig, systems: Sequence[str], audio_length_s: float,
        log: Path | None = None) -> dict[str, dict[str, float] | str]:
    """Run av-benchmark on the layout and read each system's metrics.

    Arguments:
        layout: written by :func:`write_layout`.
        config: where av-benchmark is.
        systems: the systems to evaluate.
        audio_length_s: the longest item (av-benchmark's ``--audio_length``).
        log: where its output is appended (default: ``layout.root / "avbench.log"``).

    Returns:
        {system: its metrics, or the reason it has none}.

    Raises:
        AvBenchUnavailable: it cannot run here (each reason said), or the video feature step failed.
    """
    problems = config.problems()
    if problems:
        raise AvBenchUnavailable("; ".join(problems))
    log = log or layout.root / "avbench.log"
    cmds = commands(layout, config, systems, audio_length_s)
    out: dict[str, dict[str, float] | str] = {}

    def call(cmd: list[str]) -> str | None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            try:
                done = subprocess.run(cmd, cwd=config.repo, env=config.env(), stdout=fh, stderr=subprocess.STDOUT,
                                      timeout=config.timeout_s, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"{cmd[1]} did not finish: {exc}"
        return None if done.returncode == 0 else f"{cmd[1]} exited with status {done.returncode} (see {log})"

    failed = call(cmds[0])
    if failed:
        raise AvBenchUnavailable(failed)
    for system, cmd in zip(systems, cmds[1:], strict=True):
        failed = call(cmd)
        if failed:
            out[system] = failed
            continue
        try:
            out[system] = parse_metrics(layout.cache(system) / RESULT_FILE)
        except AvBenchUnavailable as exc:
            out[system] = str(exc)
    return out
