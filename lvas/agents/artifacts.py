"""Parquet persistence of scripts, designs and call accounting (atomic writes).

``script.parquet``: one row per shot — shot index, its caption fields, the merge decision against
the running scene (null for the first shot) with its reason and caption, the scene it ended up in
with the scene's times and caption, and the global description (repeated; Parquet dictionary-
encodes it). ``design.parquet``: one row per scene and round — the design, the retrieved candidates,
the mapped design and its chosen labels, the verdict and feedback, the volumes. Nested parts are
JSON strings so any Parquet reader can open the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from lvas.models import Caption, DesignRound, LLMCall, MergeDecision, Scene, SceneDesign, Script, SoundDesign
from lvas.storage.atomic import read_parquet, write_parquet


def _dump(model: Any) -> str | None:
    return None if model is None else json.dumps(model.model_dump(mode="json"), sort_keys=True)


def save_script(path: str | os.PathLike[str], script: Script) -> None:
    """Write ``script`` as Parquet, one row per shot (see the module docstring)."""
    order = [i for scene in script.scenes for i in scene.shot_indices]
    if len(order) != len(script.shot_captions):
        order = list(range(len(script.shot_captions)))
    scene_of = {i: scene for scene in script.scenes for i in scene.shot_indices}
    decision_of = {d.shot_index: d for d in script.decisions}
    rows = []
    for shot_index, caption in zip(order, script.shot_captions, strict=True):
        d = decision_of.get(shot_index)
        scene = scene_of.get(shot_index)
        rows.append(
            {
                "video_id": script.video_id,
                "shot_index": shot_index,
                **caption.model_dump(),
                "merge": None if d is None else d.merge,
                "merge_reason": None if d is None else d.reason,
                "merge_caption": None if d is None else _dump(d.refined),
                "scene_index": None if scene is None else scene.index,
                "scene_start_s": None if scene is None else scene.start_s,
                "scene_end_s": None if scene is None else scene.end_s,
                "scene_caption": _dump(scene.caption) if scene else None,
                "global_description": script.global_description,
            }
        )
    write_parquet(path, rows)


def load_script(path: str | os.PathLike[str]) -> Script:
    """Read a Script written by :func:`save_script`."""
    rows = read_parquet(path)
    if not rows:
        raise ValueError(f"{path}: empty script table")
    captions = [Caption(**{k: r[k] for k in ("background", "entity", "action", "summary")}) for r in rows]
    decisions = [
        MergeDecision(
            shot_index=r["shot_index"],
            merge=r["merge"],
            reason=r["merge_reason"] or "",
            refined=Caption.model_validate_json(r["merge_caption"]) if r["merge_caption"] else None,
        )
        for r in rows
        if r["merge"] is not None
    ]
    scenes: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r["scene_index"] is None:
            continue
        s = scenes.setdefault(
            r["scene_index"],
            {
                "index": r["scene_index"],
                "start_s": r["scene_start_s"],
                "end_s": r["scene_end_s"],
                "shot_indices": [],
                "caption": Caption.model_validate_json(r["scene_caption"]),
            },
        )
        s["shot_indices"].append(r["shot_index"])
    return Script(
        video_id=rows[0]["video_id"],
        global_description=rows[0]["global_description"],
        shot_captions=captions,
        decisions=decisions,
        scenes=[Scene(**scenes[k]) for k in sorted(scenes)],
    )


def save_designs(path: str | os.PathLike[str], designs: Sequence[SceneDesign]) -> None:
    """Write scene designs as Parquet, one row per scene and round."""
    rows = []
    for sd in designs:
        for i, rnd in enumerate(sd.rounds):
            used = rnd.mapped or rnd.design
            rows.append(
                {
                    "video_id": sd.video_id,
                    "scene_index": sd.scene_index,
                    "round": rnd.round,
                    "is_final": i == len(sd.rounds) - 1,
                    "verdict": rnd.verdict.value,
                    "feedback": rnd.feedback,
                    "design": _dump(rnd.design),
                    "candidates": json.dumps(rnd.candidates, sort_keys=True),
                    "mapped": _dump(rnd.mapped),
                    "audio_labels": json.dumps([x.label for x in used.audio]),
                    "background_labels": json.dumps([x.label for x in used.background]),
                    "foreground_volume": used.volume,
                    "item_volumes": json.dumps([x.volume for x in (*used.audio, *used.background)]),
                }
            )
    write_parquet(path, rows)


def load_designs(path: str | os.PathLike[str]) -> list[SceneDesign]:
    """Read the scene designs written by :func:`save_designs`, ordered by (video, scene)."""
    by_scene: dict[tuple[str, int], list[DesignRound]] = {}
    for r in sorted(read_parquet(path), key=lambda r: (r["video_id"], r["scene_index"], r["round"])):
        by_scene.setdefault((r["video_id"], r["scene_index"]), []).append(
            DesignRound(
                round=r["round"],
                design=SoundDesign.model_validate_json(r["design"]),
                candidates=json.loads(r["candidates"]),
                mapped=SoundDesign.model_validate_json(r["mapped"]) if r["mapped"] else None,
                verdict=r["verdict"],
                feedback=r["feedback"],
            )
        )
    return [SceneDesign(video_id=v, scene_index=s, rounds=rounds) for (v, s), rounds in by_scene.items()]


def save_calls(path: str | os.PathLike[str], calls: Sequence[LLMCall]) -> None:
    """Write LLMCall records as Parquet, one row per call (an empty list writes an empty table)."""
    if not calls:  # typed empty columns, so readers can concatenate tables across videos
        import pyarrow as pa

        types = {str: pa.string(), float: pa.float64(), int: pa.int64(), bool: pa.bool_()}
        schema = pa.schema(
            [
                (n, types[f.annotation if isinstance(f.annotation, type) else str])
                for n, f in LLMCall.model_fields.items()
            ]
        )
        write_parquet(path, schema.empty_table())
        return
    write_parquet(path, [c.model_dump() for c in calls])


def load_calls(path: str | os.PathLike[str]) -> list[LLMCall]:
    return [LLMCall(**r) for r in read_parquet(path)]
