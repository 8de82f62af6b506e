"""Probe: would a learned check of the hard-cut candidates beat hsv's rules on the held-out parts?

    .venv/bin/python bench/probe_learned_cuts.py [--stats LABEL]

A gradient-boosted classifier (scikit-learn) on 23 per-frame statistics of each candidate step
(colour and structure steps standing out at least half of CONTRAST: their ratios, the kept shares,
the found share, the warped and moved distances, the neighbours' steps, edges, brightness), trained
on the tune parts of the real footage and the 40 material videos of bench/bench_shots.py (a true
cut within 0.1 s is positive), then used two ways on every split: in place of the rules' cuts (the
rules' dissolves and fades kept), and as a veto on the rules' cuts it rates under a probability.
Statistics come from bench_shots_real's kept statistics (``--stats``, default ``probe``). Prints
P, R, F1 and the error count per split; a measurement for bench/RESULTS.md, not a detector.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_shots import material
from bench.bench_shots_real import kept_stats
from bench.real_footage import Tally, available, heldout_from, load, score
from lvas.media import shots as S
from lvas.media.shots import FrameStats
from lvas.settings import StoryboardSettings

SETTINGS = StoryboardSettings()


def candidates(s: FrameStats, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """The candidate steps (frames) and their features."""
    d1, e1, n, w = s.d1, s.e1, len(s.d1), s.flash_frames
    k = max(3, round(S.CONTEXT_S * fps))
    db, da = S._context(d1, k)
    eb, ea = S._context(e1, k)
    thr = S.adaptive_threshold(d1, SETTINGS)
    cr = d1 / (S.CONTRAST * np.maximum(np.maximum(db, da), 1e-6))
    sr = e1 / (S.CONTRAST * np.maximum(np.minimum(eb, ea), 1e-6))
    colour = S._peaks(d1) & (d1 >= thr) & (cr >= 0.5)
    cand = np.flatnonzero(colour | (S._peaks(e1) & (e1 >= S.STILL_MIN) & (sr >= 0.5)))
    c = cand[(cand > 2) & (cand < n - 3)]
    e, lvl, after = np.maximum(e1, 1e-6), np.maximum(s.brightness, 1e-6), np.minimum(c + 1, n - 1)
    f = np.stack([
        d1[c] / max(thr, 1e-6), np.log1p(cr[c]), np.log1p(sr[c]), e1[c], s.kept[c], s.kept_rim[c],
        s.kept_w[np.minimum(c + max(1, w // 2), n - 1)], s.found[c], s.relit[c], s.hue_step[c],
        s.e1_warped[c] / e[c], s.e1_moved[c] / e[c], s.ef[c] / e[c], s.ew[np.minimum(c + w, n - 1)] / e[c],
        e1[c - 1] / e[c], e1[c + 1] / e[c], np.log(lvl[c] / lvl[c - 1]), s.edges[c - 1], s.edges[c],
        s.edges[c - 3], np.log1p(np.maximum(eb, ea)[c] / e[c]), np.log1p(np.minimum(eb, ea)[c] / e[c]),
        s.eh_moved[after] / np.maximum(s.eh[after], 1e-6),
    ], axis=1)
    return c, np.nan_to_num(f, nan=-1.0, posinf=10.0, neginf=-10.0)


def near(times: np.ndarray, cuts: list[float]) -> np.ndarray:
    return np.array([any(abs(t - c) <= 0.1 for c in cuts) for t in times], bool)


def main() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    ap = argparse.ArgumentParser()
    ap.add_argument("--stats", default="probe")
    args = ap.parse_args()
    gt = load()
    parts: dict[str, list] = {"tune": [], "heldout": []}
    for video, path in available(gt).items():
        notes = gt[video]
        s, fps, _ = kept_stats(path, args.stats)
        c, f = candidates(s, fps)
        t = s.t_s[c]
        edge = heldout_from(notes)
        for split in parts:
            inside = (t >= edge - 0.1) if split == "heldout" else (t < edge - 0.1)
            cuts = [a.t_s for a in notes if a.kind == "cut" and a.split == split]
            parts[split].append((s, fps, notes, c[inside], f[inside], near(t[inside], cuts)))
    train_x, train_y = [p[4] for p in parts["tune"]], [p[5] for p in parts["tune"]]
    for seed in range(40):
        path, events = material(60.0, seed)
        s, fps, _ = kept_stats(path, args.stats)
        c, f = candidates(s, fps)
        train_x.append(f)
        train_y.append(near(s.t_s[c], [e.t_s for e in events if e.kind == "cut"]))
    clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                         l2_regularization=1.0, random_state=0)
    clf.fit(np.concatenate(train_x), np.concatenate(train_y))
    for split, rows in parts.items():
        for how, levels in (("in place of the rules' cuts", (0.3, 0.5, 0.7)), ("veto under", (0.02, 0.1, 0.2))):
            for level in levels:
                tally = Tally.empty()
                for s, fps, notes, c, f, _ in rows:
                    p = clf.predict_proba(f)[:, 1] if len(f) else np.zeros(0)
                    rated = dict(zip(c.tolist(), p.tolist(), strict=True))
                    found = S.detect_boundaries(s, fps, SETTINGS)
                    if how.startswith("veto"):
                        pred = [float(s.t_s[b.frame]) for b in found if b.kind != "cut"
                                or not 0 <= max(rated.get(b.frame + d, -1.0) for d in (-1, 0, 1)) < level]
                    else:
                        gap = max(1, round(SETTINGS.min_shot_s * fps))
                        kept: list[int] = []
                        for frame in sorted(c[p >= level]):
                            if not kept or frame - kept[-1] >= gap:
                                kept.append(int(frame))
                        times = [float(s.t_s[k]) for k in kept]
                        pred = times + [float(s.t_s[b.frame]) for b in found
                                        if b.kind != "cut" and all(abs(float(s.t_s[b.frame]) - t) > 0.3 for t in times)]
                    tally.add(score(sorted(pred), notes, split))
                p_, r_, f1 = tally.prf()
                errors = tally.n_pred - tally.tp + sum(tally.total.values()) - tally.tp
                print(f"{split:8s} {how} {level}: P {p_:.3f} R {r_:.3f} F1 {f1:.3f}, {errors} errors", flush=True)


if __name__ == "__main__":
    main()
