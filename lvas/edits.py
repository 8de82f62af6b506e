"""Editing a soundtrack in turns (Audio-Agent): typed operations on a video's timed events.

A request ("make the rain in scene 2 quieter and add a dog bark at 12.5 s") becomes a list of
:data:`EditOp` records (:func:`parse_request`, the offline grammar below; or an LLM answering with
:class:`EditPlan`; or ``--file ops.json``). Each is validated against the video (its scenes,
its duration, its events) and the knowledge base (labels, the Designer's exclusions) by
:func:`apply_ops`; anything outside is refused with the reason and nothing changes.

The operations of every turn are kept in ``videos/<id>/edits.parquet`` (one row per turn: its
request and operations as JSON) and applied, in order, on top of the design's events wherever the
events are read (``pipeline.video_events``). A scene's render key holds the digest of the
operations touching it, so a turn re-renders the touched scenes only; the per-event cache reuses
every event whose spec did not change. Before a turn, every artifact of the video that a turn can
change is copied to ``videos/<id>/turns/<n>/``, with the video's status records
(``status/<id>/*.json``, under ``turns/<n>/.status/``); undo puts them back byte for byte.

Offline grammar (case-insensitive; clauses joined by "and", "then", ",", ";")::

    make the <sound> [in scene N] quieter|louder [by D dB]      -> gain (default 6 dB)
    remove|delete|drop the <sound> [in scene N]                 -> remove
    add a|an <label> at T s [for D s] [in the background]       -> add (default 2 s, foreground)
    replace the <sound> [in scene N] with <label>               -> replace
    move the <sound> [in scene N] to T s                        -> move
    regenerate|re-render the <sound> [in scene N]               -> regenerate (new seed)

``<sound>`` matches an event whose label or prompt contains it; without "in scene N" every
scene's matching events are edited. Scenes are numbered as ``lvas show`` numbers them (from 0).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from lvas.errors import InputError
from lvas.keys import digest
from lvas.models import SoundEvent
from lvas.storage.atomic import atomic_path, write_parquet
from lvas.storage.layout import Layout


class _Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Target(_Op):
    """Which events an operation edits: those of ``scene`` (every scene when None) whose label or
    prompt contains ``sound`` (case-insensitive), or the one with index ``event`` in ``scene``."""

    sound: str | None = None
    scene: int | None = Field(None, ge=0)
    event: int | None = Field(None, ge=0)


class AddOp(_Op):
    op: Literal["add"]
    label: str = Field(min_length=1, max_length=200)
    start_s: float = Field(ge=0)
    duration_s: float = Field(2.0, gt=0, le=600)
    layer: Literal["foreground", "background"] = "foreground"
    gain_db: float = Field(0.0, ge=-40, le=12)


class RemoveOp(_Op):
    op: Literal["remove"]
    target: Target


class ReplaceOp(_Op):
    op: Literal["replace"]
    target: Target
    label: str = Field(min_length=1, max_length=200)


class MoveOp(_Op):
    op: Literal["move"]
    target: Target
    start_s: float = Field(ge=0)


class GainOp(_Op):
    op: Literal["gain"]
    target: Target
    delta_db: float = Field(ge=-40, le=24)


class RegenerateOp(_Op):
    op: Literal["regenerate"]
    target: Target


EditOp = Annotated[AddOp | RemoveOp | ReplaceOp | MoveOp | GainOp | RegenerateOp, Field(discriminator="op")]


class EditPlan(_Op):
    """A turn's operations (the schema an LLM must fill, and the ``--file`` format)."""

    ops: list[EditOp] = Field(min_length=1, max_length=50)


def parse_ops(data: Any) -> list[EditOp]:
    """Validate operations given as data (``{"ops": [...]}`` or the list alone).

    Raises:
        InputError: not operations; the message names the first problem.
    """
    if isinstance(data, list):
        data = {"ops": data}
    try:
        return list(EditPlan.model_validate(data).ops)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"bad edit operations: {where}: {first['msg']}") from None


# --------------------------------------------------------------------------- offline grammar

_NUM = r"(\d+(?:\.\d+)?)"
_SCENE = r"(?:\s+in\s+scene\s+(\d+))?"
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^make\s+(?:the\s+)?(.+?){_SCENE}\s+(quieter|louder|softer)(?:\s+by\s+{_NUM}\s*db)?$"), "gain"),
    (re.compile(rf"^(?:remove|delete|drop)\s+(?:the\s+)?(.+?){_SCENE}$"), "remove"),
    (re.compile(rf"^add\s+(?:an?\s+|the\s+|some\s+)?(.+?)\s+at\s+{_NUM}\s*s(?:ec(?:onds?)?)?"
                rf"(?:\s+for\s+{_NUM}\s*s(?:ec(?:onds?)?)?)?(\s+in\s+the\s+background)?$"), "add"),
    (re.compile(rf"^replace\s+(?:the\s+)?(.+?){_SCENE}\s+with\s+(?:an?\s+|the\s+)?(.+)$"), "replace"),
    (re.compile(rf"^move\s+(?:the\s+)?(.+?){_SCENE}\s+to\s+{_NUM}\s*s(?:ec(?:onds?)?)?$"), "move"),
    (re.compile(rf"^(?:regenerate|re-?render)\s+(?:the\s+)?(.+?){_SCENE}$"), "regenerate"),
]
GRAMMAR_HELP = ("make the <sound> [in scene N] quieter|louder [by D dB]; remove the <sound> [in scene N]; "
                "add a <label> at T s [for D s] [in the background]; replace the <sound> [in scene N] with <label>; "
                "move the <sound> [in scene N] to T s; regenerate the <sound> [in scene N]")


def parse_request(text: str) -> list[EditOp]:
    """Turn a request into operations with the offline grammar (module docstring).

    Raises:
        InputError: a clause the grammar cannot parse (named, with what it understands).
    """
    clauses = [c.strip(" .!") for c in re.split(r"\s*(?:;|,|\band then\b|\bthen\b|\band\b)\s*", text.lower())]
    ops: list[EditOp] = []
    for clause in filter(None, clauses):
        for pattern, kind in _RULES:
            m = pattern.match(clause)
            if m:
                ops.append(_op(kind, m.groups()))
                break
        else:
            raise InputError(f"cannot parse {clause!r}; the offline grammar understands: {GRAMMAR_HELP} "
                             "(or give operations with --file ops.json)")
    if not ops:
        raise InputError("the request is empty")
    return ops


def _op(kind: str, g: Sequence[str | None]) -> EditOp:
    def target(sound: str | None, scene: str | None) -> Target:
        return Target(sound=sound, scene=int(scene) if scene else None)

    if kind == "gain":
        sign = 1.0 if g[2] == "louder" else -1.0
        return GainOp(op="gain", target=target(g[0], g[1]), delta_db=sign * float(g[3] or 6.0))
    if kind == "remove":
        return RemoveOp(op="remove", target=target(g[0], g[1]))
    if kind == "add":
        return AddOp(op="add", label=str(g[0]), start_s=float(g[1] or 0), duration_s=float(g[2] or 2.0),
                     layer="background" if g[3] else "foreground")
    if kind == "replace":
        return ReplaceOp(op="replace", target=target(g[0], g[1]), label=str(g[2]))
    if kind == "move":
        return MoveOp(op="move", target=target(g[0], g[1]), start_s=float(g[2] or 0))
    return RegenerateOp(op="regenerate", target=target(g[0], g[1]))


EDITOR_PROMPT = """You edit the soundtrack of a video ({duration:g} s, scenes {scenes}).
Its sound events (scene, index, layer, label, start_s, end_s, gain_db):
{events}
The request: {request}
Answer with JSON only: {{"ops": [...]}} where each operation is one of
{{"op": "add", "label": KB label, "start_s": s, "duration_s": s, "layer": "foreground"|"background", "gain_db": dB}}
{{"op": "remove"|"regenerate", "target": {{"sound": text, "scene": n, "event": index}}}}
{{"op": "replace", "target": {{...}}, "label": KB label}}
{{"op": "move", "target": {{...}}, "start_s": s}}
{{"op": "gain", "target": {{...}}, "delta_db": dB}}
A target's fields are optional filters (sound: part of the label). Use knowledge-base labels only."""


def llm_request_ops(backend: Any, model: str, make_message: Any, request: str, events: Sequence[SoundEvent],
                    spans: Sequence[tuple[float, float]], duration_s: float) -> list[EditOp]:
    """Ask an LLM to turn a request into operations; its answer is validated as :class:`EditPlan`.

    Arguments:
        backend: an OpenAI-compatible backend (``complete(role, model, messages, schema)``).
        model: the model.
        make_message: builds a user message from text (``lvas.backends.llm.user_message``).
        request: what the person asked.
        events: the video's events now.
        spans: its scenes' spans.
        duration_s: its duration.

    Returns:
        The operations (still to be validated against the video by :func:`apply_ops`).

    Raises:
        AgentOutputError: the answer does not fit the schema after the backend's repair round.
    """
    listing = "\n".join(f"- {e.scene_index}, {e.index}, {e.layer}, {e.label or e.prompt}, {e.start_s:g}, "
                        f"{e.end_s:g}, {e.gain_db:g}" for e in events) or "- none"
    scenes = ", ".join(f"{i}: {a:g}-{b:g} s" for i, (a, b) in enumerate(spans))
    prompt = EDITOR_PROMPT.format(duration=duration_s, scenes=scenes, events=listing, request=request)
    return list(backend.complete("editor", model, [make_message(prompt)], EditPlan).ops)


# --------------------------------------------------------------------------- applying


def _scene_of(t: float, spans: Sequence[tuple[float, float]]) -> int:
    for i, (a, b) in enumerate(spans):
        if a <= t < b:
            return i
    return len(spans) - 1


def _label(label: str, known: frozenset[str], excluded: frozenset[str]) -> str:
    by_lower = {k.lower(): k for k in known}
    real = by_lower.get(label.strip().lower())
    if real is None:
        raise InputError(f"unknown label {label!r}: not in the knowledge base (lvas kb query {label!r} "
                         "finds the nearest)")
    if real in excluded:
        raise InputError(f"label {real!r} is excluded by the Designer's rules (speech or music not allowed)")
    return real


def _select(events: list[SoundEvent], t: Target, n_scenes: int) -> list[int]:
    if t.scene is not None and t.scene >= n_scenes:
        raise InputError(f"no scene {t.scene}: the video has {n_scenes} (0..{n_scenes - 1})")
    hits = [k for k, ev in enumerate(events)
            if (t.scene is None or t.scene == ev.scene_index or t.scene in ev.scenes)
            and (t.event is None or ev.index == t.event)
            and (t.sound is None or t.sound.lower() in ev.label.lower() or t.sound.lower() in ev.prompt.lower())]
    if not hits:
        where = f" in scene {t.scene}" if t.scene is not None else ""
        what = repr(t.sound) if t.sound else f"event {t.event}"
        have = sorted({ev.label or ev.prompt for ev in events
                       if t.scene is None or t.scene == ev.scene_index or t.scene in ev.scenes})
        raise InputError(f"no {what}{where}; there: {', '.join(have) or 'no events'}")
    return hits


def apply_ops(events: list[SoundEvent], ops: Sequence[EditOp], spans: Sequence[tuple[float, float]],
              duration_s: float, known: frozenset[str], excluded: frozenset[str]) -> list[SoundEvent]:
    """Apply operations to a video's events, validating each.

    Arguments:
        events: the events (``pipeline.video_events`` before edits).
        ops: the operations, in order.
        spans: each scene's (start, end).
        duration_s: the video's duration.
        known, excluded: the knowledge base's labels and the Designer's exclusions.

    Returns:
        The edited events (a new list).

    Raises:
        InputError: an operation names a scene, time, sound or label that does not exist or is not
            allowed; the message names the operation.
    """
    out = list(events)
    for n, op in enumerate(ops):
        try:
            out = _apply(out, op, spans, duration_s, known, excluded)
        except InputError as exc:
            raise InputError(f"operation {n} ({op.op}): {exc}") from None
    return out


def _apply(events: list[SoundEvent], op: EditOp, spans: Sequence[tuple[float, float]], duration_s: float,
           known: frozenset[str], excluded: frozenset[str]) -> list[SoundEvent]:
    if isinstance(op, AddOp):
        if op.start_s >= duration_s:
            raise InputError(f"{op.start_s:g} s is at or after the video's end ({duration_s:g} s)")
        label = _label(op.label, known, excluded)
        scene = _scene_of(op.start_s, spans)
        index = 1 + max((ev.index for ev in events if ev.scene_index == scene), default=-1)
        end = min(duration_s, op.start_s + op.duration_s)
        return [*events, SoundEvent(scene_index=scene, index=index, layer=op.layer, label=label, prompt=label,
                                    start_s=round(op.start_s, 4), end_s=round(end, 4), gain_db=op.gain_db,
                                    scenes=(scene,))]
    hits = set(_select(events, op.target, len(spans)))
    if isinstance(op, RemoveOp):
        return [ev for k, ev in enumerate(events) if k not in hits]
    out = []
    for k, ev in enumerate(events):
        if k not in hits:
            out.append(ev)
        elif isinstance(op, ReplaceOp):
            label = _label(op.label, known, excluded)
            out.append(ev.model_copy(update={"label": label, "prompt": label}))
        elif isinstance(op, MoveOp):
            if op.start_s >= duration_s:
                raise InputError(f"{op.start_s:g} s is at or after the video's end ({duration_s:g} s)")
            length = ev.end_s - ev.start_s
            scene = _scene_of(op.start_s, spans)
            out.append(ev.model_copy(update={"start_s": round(op.start_s, 4), "scene_index": scene,
                                             "end_s": round(min(duration_s, op.start_s + length), 4),
                                             "scenes": (scene,)}))
        elif isinstance(op, GainOp):
            out.append(ev.model_copy(update={"gain_db": round(ev.gain_db + op.delta_db, 3)}))
        else:  # regenerate: a new seed through the prompt's seed key, the sound asked for unchanged
            out.append(ev.model_copy(update={"seed_offset": ev.seed_offset + 1}))
    return out


# --------------------------------------------------------------------------- turns on disk


def edits_path(layout: Layout, video_id: str) -> Path:
    """The video's turns: ``videos/<id>/edits.parquet``."""
    return layout.video_dir(video_id) / "edits.parquet"


def load_turns(layout: Layout, video_id: str) -> list[dict[str, Any]]:
    """Every kept turn of the video, oldest first (``turn``, ``request``, ``ops`` JSON)."""
    import pyarrow.parquet as pq

    path = edits_path(layout, video_id)
    return pq.read_table(path).to_pylist() if path.exists() else []


def turn_ops(layout: Layout, video_id: str) -> list[EditOp]:
    """The operations of every turn, in order."""
    ops: list[EditOp] = []
    for row in load_turns(layout, video_id):
        ops += parse_ops(json.loads(row["ops"]))
    return ops


def scene_edit_digests(events_before: list[SoundEvent], events_after: list[SoundEvent]) -> dict[int, str]:
    """{scene: digest of its edited events} for every scene whose events the edits changed."""
    def by_scene(events: list[SoundEvent]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for ev in events:
            for sc in ev.scenes or (ev.scene_index,):
                out.setdefault(sc, []).append(ev.model_dump_json())
        return out

    before, after = by_scene(events_before), by_scene(events_after)
    return {sc: digest("edits", *sorted(after.get(sc, []))) for sc in set(before) | set(after)
            if sorted(before.get(sc, [])) != sorted(after.get(sc, []))}


SNAPSHOT_SKIP = ("events", "keyframes", "turns")
STATUS_SNAPSHOT = ".status"
"""The folder of a snapshot holding the video's status records (the video folder has none of that name)."""


def snapshot(layout: Layout, video_id: str, turn: int) -> Path:
    """Copy every file of the video's folder a turn can change (not the event cache, the keyframes or
    the snapshots) to ``turns/<turn>/``, with the completion markers, and the video's status
    records to ``turns/<turn>/.status/``."""
    root = layout.video_dir(video_id)
    dest = root / "turns" / f"{turn:04d}"
    if dest.exists():
        shutil.rmtree(dest)
    for path in _changeable(root):
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    records = dest / STATUS_SNAPSHOT
    records.mkdir(parents=True)
    for path in _records(layout, video_id):
        shutil.copy2(path, records / path.name)
    (dest / ".complete").write_text("")
    return dest


def restore(layout: Layout, video_id: str, turn: int) -> None:
    """Put the video's folder and status records back as :func:`snapshot` saw them: files copied
    back, files made since removed.

    Raises:
        InputError: there is no complete snapshot of that turn.
    """
    root = layout.video_dir(video_id)
    src = root / "turns" / f"{turn:04d}"
    if not (src / ".complete").exists():
        raise InputError(f"{video_id}: no saved state before turn {turn}; nothing to undo")
    saved = {p.relative_to(src) for p in src.rglob("*")
             if p.is_file() and p.name != ".complete" and p.relative_to(src).parts[0] != STATUS_SNAPSHOT}
    for path in _changeable(root):
        if path.relative_to(root) not in saved:
            path.unlink()
    for rel in sorted(saved):
        _put_back(src / rel, root / rel)
    if (src / STATUS_SNAPSHOT).is_dir():  # a snapshot taken before records were saved has none
        _restore_records(layout, video_id, src / STATUS_SNAPSHOT)
    shutil.rmtree(src)


def _records(layout: Layout, video_id: str) -> list[Path]:
    return sorted(layout.status_dir(video_id).glob("*.json"))


def _restore_records(layout: Layout, video_id: str, saved: Path) -> None:
    keep = {p.name for p in saved.glob("*.json")}
    for path in _records(layout, video_id):
        if path.name not in keep:
            path.unlink()
    for name in sorted(keep):
        _put_back(saved / name, layout.status_dir(video_id) / name)


def _put_back(saved: Path, path: Path) -> None:
    with atomic_path(path) as tmp:  # readers never see half a file, nor does an undo cut short
        shutil.copy2(saved, tmp)


def _changeable(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in SNAPSHOT_SKIP]


def save_turn(layout: Layout, video_id: str, request: str, ops: Sequence[EditOp]) -> int:
    """Append a turn to ``edits.parquet``; returns its number (1, 2, ...)."""
    turns = load_turns(layout, video_id)
    n = len(turns) + 1
    adapter: TypeAdapter[list[EditOp]] = TypeAdapter(list[EditOp])
    turns.append({"turn": n, "request": request, "ops": adapter.dump_json(list(ops)).decode()})
    write_parquet(edits_path(layout, video_id), turns)
    return n
