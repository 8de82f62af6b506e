"""The Scriptwriter stage and the discussion–correction loop (LVAS-Agent Algorithm 1).

1. A global description of the whole video from keyframes sampled over it (or the sidecar's).
2. A caption per shot from its keyframes (or the sidecar segment that overlaps it most).
3. For each shot after the first, the Storyboarder compares it with the running scene (its shots,
   its caption) and the global description, and decides MERGE or not. Merged shots become one
   Scene whose caption is the unified one; a kept shot opens a new Scene with its refined caption.
   Every decision is stored in ``Script.decisions``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from lvas.agents.base import Agents, FrameStats, ShotView
from lvas.agents.captions import SidecarCaptions
from lvas.errors import InputError
from lvas.models import Caption, MergeDecision, Scene, Script, Shot, Storyboard
from lvas.storage.layout import Layout

log = logging.getLogger(__name__)

# Keyframes given to the global description: enough to see each setting, few enough for one call.
GLOBAL_KEYFRAMES = 16


def resolve_keyframes(video_dir: Path, shot: Shot) -> tuple[Path, ...]:
    """Absolute keyframe paths of ``shot``; each must exist and stay inside ``video_dir``.

    Raises:
        InputError: a keyframe path escapes the video folder or the file is missing.
    """
    base = video_dir.resolve()
    out = []
    for rel in shot.keyframes:
        p = (base / rel).resolve()
        if base not in p.parents:
            raise InputError(f"shot {shot.index}: keyframe path {rel!r} escapes the video folder {base}")
        if not p.is_file():
            raise InputError(f"shot {shot.index}: keyframe {p} is missing (rerun the storyboard stage)")
        out.append(p)
    return tuple(out)


def _frame_stats_loader(video_dir: Path, video_id: str):
    """A ``(start_s, end_s) -> stats | None`` reader of the storyboard's frames.parquet, or None.

    Uses ``lvas.storyboard.load_frame_stats`` when that module and the file exist; the offline
    agents fall back to keyframes without it.
    """
    layout = Layout(video_dir.parent.parent)
    if (
        layout.video_dir(video_id) != video_dir.expanduser().absolute()
        or not layout.frames(video_id).exists()
    ):
        return None
    try:  # imported only when there is something to read: the module pulls in the decoders
        from lvas.storyboard import load_frame_stats
    except ImportError:
        return None

    def read(start_s: float, end_s: float) -> FrameStats | None:
        try:
            return load_frame_stats(layout, video_id, start_s, end_s)
        except Exception as exc:  # stats are an optional cue: never fail the script for them
            log.warning("frame stats for %s [%.2f, %.2f]s unavailable: %s", video_id, start_s, end_s, exc)
            return None

    return read


def shot_views(storyboard: Storyboard, video_dir: Path) -> list[ShotView]:
    """What the agents see of each shot: times, absolute keyframes, frame stats when available."""
    reader = _frame_stats_loader(video_dir, storyboard.video_id)
    return [
        ShotView(
            index=s.index,
            start_s=s.start_s,
            end_s=s.end_s,
            keyframes=resolve_keyframes(video_dir, s),
            frame_stats=reader(s.start_s, s.end_s) if reader else None,
        )
        for s in storyboard.shots
    ]


def _timed_keyframes(storyboard: Storyboard, views: Sequence[ShotView]) -> list[tuple[float, Path]]:
    fps = storyboard.info.fps or 1.0
    timed: list[tuple[float, Path]] = []
    for shot, view in zip(storyboard.shots, views, strict=True):
        for i, path in enumerate(view.keyframes):
            frames = shot.keyframe_frames
            t = frames[i] / fps if i < len(frames) else (shot.start_s + shot.end_s) / 2
            timed.append((t, path))
    if len(timed) <= GLOBAL_KEYFRAMES:
        return timed
    step = (len(timed) - 1) / (GLOBAL_KEYFRAMES - 1)
    return [timed[round(i * step)] for i in range(GLOBAL_KEYFRAMES)]


def write_script(
    storyboard: Storyboard, video_dir: Path, agents: Agents, sidecar: SidecarCaptions | None = None
) -> Script:
    """Caption the shots and merge them into scenes.

    Arguments:
        storyboard: shots with keyframe paths relative to ``video_dir``.
        video_dir: the video's artifact folder.
        agents: the roles (offline or LLM); their ``calls`` receive the accounting.
        sidecar: dataset captions that replace the Scriptwriter's where they overlap a shot.

    Returns:
        The Script: global description, per-shot captions, every merge decision, the scenes.

    Raises:
        InputError: a keyframe is missing or its path escapes ``video_dir``; the storyboard has no shots.
        AgentOutputError, BackendUnavailable: a model call failed for good.
    """
    if not storyboard.shots:
        raise InputError(f"video {storyboard.video_id}: the storyboard has no shots")
    views = shot_views(storyboard, Path(video_dir))
    if sidecar is not None and sidecar.global_description:
        global_description = sidecar.global_description
    else:
        global_description = agents.describe_video(
            _timed_keyframes(storyboard, views), storyboard.info.duration_s
        )

    captions: list[Caption] = []
    for view in views:
        given = sidecar.caption_for(view.start_s, view.end_s) if sidecar is not None else None
        captions.append(given or agents.caption_shot(view, global_description))

    decisions, scenes = discuss(views, captions, global_description, agents)
    return Script(
        video_id=storyboard.video_id,
        global_description=global_description,
        shot_captions=captions,
        decisions=decisions,
        scenes=scenes,
    )


def discuss(
    views: Sequence[ShotView], captions: Sequence[Caption], global_description: str, agents: Agents
) -> tuple[list[MergeDecision], list[Scene]]:
    """Algorithm 1: each shot against the running scene; MERGE extends it, otherwise a new scene opens."""
    decisions: list[MergeDecision] = []
    groups: list[tuple[list[ShotView], Caption]] = [([views[0]], captions[0])]
    for view, caption in zip(views[1:], captions[1:], strict=True):
        shots, scene_caption = groups[-1]
        decision = agents.decide_merge(shots, scene_caption, view, caption, global_description)
        decisions.append(decision)
        if decision.merge:
            groups[-1] = ([*shots, view], decision.refined or scene_caption)
        else:
            groups.append(([view], decision.refined or caption))
    scenes = [
        Scene(
            index=i,
            start_s=shots[0].start_s,
            end_s=shots[-1].end_s,
            shot_indices=[s.index for s in shots],
            caption=caption,
        )
        for i, (shots, caption) in enumerate(groups)
    ]
    return decisions, scenes


def window_spans(duration_s: float, window_s: float) -> list[tuple[float, float]]:
    """``[0, duration_s)`` cut into windows of ``window_s`` (the last one shorter)."""
    n = max(1, -(-round(duration_s * 1000) // max(1, round(window_s * 1000))))
    return [(i * window_s, min(duration_s, (i + 1) * window_s)) for i in range(n)]


def window_script(storyboard: Storyboard, video_dir: Path, agents: Agents | None, window_s: float,
                  sidecar: SidecarCaptions | None = None) -> Script:
    """A script with no shot/scene structure: one scene per fixed window, no merge discussion.

    The ``--no-structure`` ablation captions each window (from its shots' keyframes, or the
    sidecar); the ``fixed-window`` baseline passes ``agents=None``: no agent call, empty captions.

    Arguments:
        storyboard: its shots give each window's keyframes and shot indices.
        video_dir: the video's artifact folder.
        agents: the roles, or None for the baseline.
        window_s: window length in seconds.
        sidecar: dataset captions (used by the ablation, not the baseline).

    Returns:
        The Script: one scene per window (its ``shot_indices`` is the window's own index, so the
        script table keeps one row per window), no decisions.

    Raises:
        InputError: the storyboard has no shots, or a keyframe is missing.
    """
    if not storyboard.shots:
        raise InputError(f"video {storyboard.video_id}: the storyboard has no shots")
    views = shot_views(storyboard, Path(video_dir)) if agents is not None else []
    global_description = ""
    if agents is not None:
        global_description = (sidecar.global_description if sidecar is not None and sidecar.global_description
                              else agents.describe_video(_timed_keyframes(storyboard, views),
                                                         storyboard.info.duration_s))
    scenes, captions = [], []
    for i, (start, end) in enumerate(window_spans(storyboard.info.duration_s, window_s)):
        shots = [s for s in storyboard.shots if s.start_s < end and s.end_s > start] or [storyboard.shots[-1]]
        caption = Caption()
        if agents is not None:
            given = sidecar.caption_for(start, end) if sidecar is not None else None
            inside = [v for v in views if v.index in {s.index for s in shots}]
            view = ShotView(index=i, start_s=start, end_s=end,
                            keyframes=tuple(k for v in inside for k in v.keyframes),
                            frame_stats=inside[0].frame_stats if len(inside) == 1 else None)
            caption = given or agents.caption_shot(view, global_description)
        captions.append(caption)
        # the script table has one row per unit of the scene list: here the window itself
        scenes.append(Scene(index=i, start_s=start, end_s=end, shot_indices=[i], caption=caption))
    return Script(video_id=storyboard.video_id, global_description=global_description, shot_captions=captions,
                  decisions=[], scenes=scenes)
