"""Would a learned check of the hsv detector's boundaries pay? Cross-validated on the tune data only.

    .venv/bin/python bench/bench_verifier_cv.py [--material-seeds 0-39]

Every boundary `lvas shots` reports (detector hsv) on the tune part of the real footage
(bench/ground_truth; no held-out annotation or boundary is used, though a clip whose tail is held
out is decoded whole, so a boundary near that edge reads up to a second past it) and on assembled material
(bench/make_material.py) gets a row of features read from the detector's own per-frame statistics
around it (how far it stands out from the change around it, what share of the picture it keeps,
how the pictures a second before and after it differ against how each side changes, brightness,
motion, its kind and span) and a label: does it match an annotated boundary (within 0.1 s, one to
one, as bench/real_footage.py scores)? A gradient-boosted classifier (scikit-learn) is trained with
each video left out in turn and drops that video's boundaries it scores under a cut-off; the
table gives the real tune clips' precision, recall and F1 before and after, and what was dropped.
It can only remove false alarms (the detector's misses stay missed).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_shots import material
from bench.real_footage import BOUNDARY_KINDS, IGNORED_KINDS, TOLERANCE_S, available, load, matches
from lvas.media.analysis import analyze
from lvas.media.shots import H_BINS, S_BINS, V_BINS, Boundary, FrameStats, adaptive_threshold
from lvas.settings import StoryboardSettings

HIST = H_BINS + S_BINS + V_BINS  # sample_features: the histogram, then the 4x4 luminance layout
CUT_OFFS = (0.05, 0.1, 0.2, 0.3, 0.5)


def side_distances(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Histogram (half L1 per channel group) and layout (mean absolute) distance of two samples."""
    return 0.5 * float(np.abs(a[:HIST] - b[:HIST]).sum()) / 3.0, float(np.abs(a[HIST:] - b[HIST:]).mean())


def steps(samples: np.ndarray) -> np.ndarray:
    """Distances of consecutive samples, (k - 1, 2); empty when fewer than two."""
    return np.array([side_distances(x, y) for x, y in itertools.pairwise(samples)]).reshape(-1, 2)


def features(st: FrameStats, fps: float, b: Boundary, thr: float, prev: int, nxt: int) -> dict[str, float]:
    """What the per-frame statistics say around boundary ``b`` (neighbours at frames prev, nxt)."""
    n, i, s, e = len(st), b.frame, b.start, max(b.end, b.frame)
    clip = lambda x: int(min(max(x, 0), n - 1))  # noqa: E731
    k, sec, w, half = max(3, round(0.3 * fps)), max(2, round(fps)), st.flash_frames, st.gradual_frames // 2
    before, after = st.e1[clip(s - k):max(clip(s - 1), clip(s - k) + 1)], st.e1[clip(e + 1):clip(e + k) + 1]
    d_before, d_after = st.d1[clip(s - k):max(clip(s - 1), clip(s - k) + 1)], st.d1[clip(e + 1):clip(e + k) + 1]
    peak_e, peak_d = float(st.e1[s:e + 1].max()), float(st.d1[s:e + 1].max())
    ctx_e = max(float(before.max(initial=0)), float(after.max(initial=0)))
    ctx_e_min = min(float(before.max(initial=0)), float(after.max(initial=0)))
    f = {
        "cut": float(b.kind == "cut"), "dissolve": float(b.kind == "dissolve"), "fade": float(b.kind == "fade"),
        "span_s": (e - s) / fps, "d1_over_threshold": st.d1[i] / thr, "e1": st.e1[i], "kept": st.kept[i],
        "relit": st.relit[i], "ew_after": st.ew[clip(i + w)], "kept_w": st.kept_w[clip(i + w)],
        "e_context": ctx_e, "e_context_min": ctx_e_min, "e_ratio": peak_e / max(ctx_e, 1e-4),
        "e_ratio_min": peak_e / max(ctx_e_min, 1e-4),
        "d_ratio": peak_d / max(float(d_before.max(initial=0)), float(d_after.max(initial=0)), 1e-4),
        "el_after": st.el[clip(e + half)], "kept_l": st.kept_l[clip(e + half)],
        "el_long": st.el_long[clip(i + 2 * half)],
    }
    # the pictures a second either side (within the neighbouring shots) against how each side changes
    m_b = (st.sample_frames >= max(s - sec, prev + 2)) & (st.sample_frames < s - 1)
    m_a = (st.sample_frames >= e + 2) & (st.sample_frames < min(e + 1 + sec, nxt - 2))
    sb, sa = st.sample_features[m_b], st.sample_features[m_a]
    across = side_distances(sb[-1], sa[0]) if len(sb) and len(sa) else (np.nan, np.nan)
    far = side_distances(sb[0], sa[-1]) if len(sb) and len(sa) else (np.nan, np.nan)
    within = np.concatenate([steps(sb), steps(sa)])
    within = within.max(axis=0) if len(within) else np.array([np.nan, np.nan])
    f |= {"across_hist": across[0], "across_layout": across[1], "within_hist": within[0], "within_layout": within[1],
          "ratio_hist": across[0] / max(within[0], 1e-3), "ratio_layout": across[1] / max(within[1], 1e-3),
          "far_hist": far[0], "far_layout": far[1]}
    lo, hi = clip(s - k), clip(e + k)
    b0, b1 = float(st.brightness[lo:max(clip(s - 1), lo + 1)].mean()), float(st.brightness[clip(e + 1):hi + 1].mean())
    f |= {"bright_min": min(b0, b1), "bright_log_ratio": float(np.log((b1 + 1e-3) / (b0 + 1e-3))),
          "contrast_min": min(st.contrast[clip(s - 1)], st.contrast[clip(e + 1)]),
          "edges_min": min(st.edges[clip(s - 1)], st.edges[clip(e + 1)]),
          "motion_median": float(np.median(st.motion[clip(i - sec):clip(i + sec) + 1])),
          "gap_prev_s": (i - prev) / fps, "gap_next_s": (nxt - i) / fps}
    return {name: float(v) for name, v in f.items()}


def matched(pred: list[float], truth: list[float]) -> list[int]:
    """1 for each prediction matched one to one with a true boundary within the tolerance, else 0."""
    used = {j for _, j in matches(pred, truth)}
    return [int(j in used) for j in range(len(pred))]


def rows(path: Path, truth: list[float], keep) -> tuple[list[dict[str, float]], list[int]]:
    """Features and labels of the boundaries of one video that ``keep(t_s)`` admits."""
    settings = StoryboardSettings()
    a = analyze(path, settings, "hsv")
    thr = adaptive_threshold(a.stats.d1, settings)
    frames = [0, *(b.frame for b in a.boundaries), len(a.stats)]
    picked = [(k, b) for k, b in enumerate(a.boundaries) if keep(a.time_s(b.frame))]
    feats = [features(a.stats, a.info.fps, b, thr, frames[k], frames[k + 2]) for k, b in picked]
    return feats, matched([a.time_s(b.frame) for _, b in picked], truth)


def dataset(seeds: range) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int], list[str]]:
    gt = load()
    X, y, groups, n_true = [], [], [], {}
    for video, path in available(gt).items():
        notes = gt[video]
        if not any(a.split == "tune" for a in notes):
            continue  # held out: never analysed here
        held = [a.start_s for a in notes if a.split == "heldout"]
        edge = min(held) if held else float("inf")
        ignored = [(a.start_s - TOLERANCE_S, a.end_s + TOLERANCE_S) for a in notes if a.kind in IGNORED_KINDS]
        truth = [a.t_s for a in notes if a.split == "tune" and a.kind in BOUNDARY_KINDS]
        feats, labels = rows(path, truth, lambda t, e=edge, ig=ignored: t < e - TOLERANCE_S
                             and not any(lo <= t <= hi for lo, hi in ig))
        X += feats
        y += labels
        groups += [video] * len(labels)
        n_true[video] = len(truth)
        print(f"  {Path(str(path)).name}: {len(labels)} boundaries, {len(labels) - sum(labels)} false", flush=True)
    for seed in seeds:
        path, events = material(60.0, seed)
        truth = [e.t_s for e in events if e.kind in ("cut", "short", "dissolve", "fade")]
        feats, labels = rows(path, truth, lambda t: True)
        X += feats
        y += labels
        groups += [f"material seed {seed}"] * len(labels)
        n_true[f"material seed {seed}"] = len(truth)
    names = list(X[0])
    matrix = np.nan_to_num(np.array([[r[k] for k in names] for r in X]), nan=-1.0)
    return matrix, np.array(y), np.array(groups), n_true, names


def main() -> None:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import LeaveOneGroupOut

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--material-seeds", default="0-39", help="assembled material seeds, as A-B")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.material_seeds.split("-"))
    print("analysing the tune clips and the material:")
    X, y, groups, n_true, names = dataset(range(lo, hi + 1))
    real = np.array([not g.startswith("material") for g in groups])
    true_real = sum(v for k, v in n_true.items() if not k.startswith("material"))
    proba = np.ones(len(y))
    for train, test in LeaveOneGroupOut().split(X, y, groups):
        if (y[train] == 0).sum() < 2:
            continue
        model = GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, subsample=0.8,
                                           random_state=0).fit(X[train], y[train])
        proba[test] = model.predict_proba(X[test])[:, 1]
    print(f"\nreal tune clips: {real.sum()} boundaries reported, {(y[real] == 0).sum()} false, "
          f"{true_real} annotated; material: {(~real).sum()} reported, {(y[~real] == 0).sum()} false")
    print("| cut-off | real P | R | F1 | dropped true | dropped false | material F1 |")
    print("|---|---|---|---|---|---|---|")
    for cut in (0.0, *CUT_OFFS):
        keep = proba >= cut
        out = []
        for sel, total in ((real, true_real), (~real, sum(n_true.values()) - true_real)):
            tp, n = int((y[sel & keep] == 1).sum()), int((sel & keep).sum())
            p, r = tp / max(n, 1), tp / max(total, 1)
            out.append((p, r, 2 * p * r / max(p + r, 1e-9)))
        dropped = ~keep & real
        print(f"| {'none' if cut == 0 else cut} | {out[0][0]:.3f} | {out[0][1]:.3f} | {out[0][2]:.3f} | "
              f"{int((y[dropped] == 1).sum())} | {int((y[dropped] == 0).sum())} | {out[1][2]:.3f} |")
    model = GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, subsample=0.8,
                                       random_state=0).fit(X, y)
    top = sorted(zip(model.feature_importances_, names, strict=True), reverse=True)[:8]
    print("most used features (all data): " + ", ".join(f"{n} {v:.2f}" for v, n in top))


if __name__ == "__main__":
    main()
