"""The stages as plain functions over (layout, video, settings): no orchestrator in here.

Each ``*_stage`` function reads its inputs from the artifacts of the stage before, does the work,
writes its own artifacts atomically and returns ``(outputs, extra)`` for the completion marker
(see ``lvas.storage.units.run_unit``). Each ``*_key`` function is that stage's cache key: its inputs'
keys, its settings section and its code/prompt version. Prefect tasks (``tasks/``) call them per
video and scene over a batch (``batches``, ``scene_groups``); tests and the CLI call them directly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lvas import keys
from lvas.edits import edits_path
from lvas.models import LayerSpec, SoundEvent, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout

if TYPE_CHECKING:
    from lvas.agents.base import RetrieveLayers

# Bump when a stage's output changes for the same inputs and settings.
STORYBOARD_VERSION = "26"
RENDER_VERSION = "2"
MIX_VERSION = "2"
REFLECT_VERSION = "2"

Outputs = dict[str, str]
StageResult = tuple[Outputs, dict[str, Any]]


# --------------------------------------------------------------------------- granularity


def batches(videos: list[VideoRef], most: int, slots: int) -> list[list[VideoRef]]:
    """Split ``videos`` (in order) into batches of at most ``most``, but small enough that there
    are at least 4 batches per worker slot while the dataset allows: grouping saves orchestration
    per task run, and enough batches keep every slot busy until the end."""
    if not videos:
        return []
    size = max(1, min(most, -(-len(videos) // (4 * max(1, slots)))))
    return [videos[i:i + size] for i in range(0, len(videos), size)]


def scene_groups(scenes: list[tuple[VideoRef, int, float]], min_s: float) -> list[list[tuple[VideoRef, int]]]:
    """Consecutive ``(video, scene, duration)`` taken into groups that last at least ``min_s``
    seconds (the last may be shorter): a long scene is a task of its own, short ones share one."""
    groups: list[list[tuple[VideoRef, int]]] = []
    current: list[tuple[VideoRef, int]] = []
    total = 0.0
    for video, i, seconds in scenes:
        current.append((video, i))
        total += seconds
        if total >= min_s:
            groups.append(current)
            current, total = [], 0.0
    if current:
        groups.append(current)
    return groups


# --------------------------------------------------------------------------- keys


def storyboard_key(video: VideoRef, s: Settings) -> str:
    return keys.digest("storyboard", STORYBOARD_VERSION, keys.content_fingerprint(video.path),
                       s.storyboard.fingerprint())


# From the script on, a key also holds what the stage before it produced (``Layout.produced``, a
# digest of the content its marker recorded): a stage redone with different output invalidates
# everything built from the old one, even when its own key did not change (a rerun of one stage).


def script_key(layout: Layout, video: VideoRef, s: Settings) -> str:
    from lvas.agents.prompts import PROMPT_VERSION

    sidecar = keys.content_fingerprint(video.captions_path) if video.captions_path else "-"
    return keys.digest("script", storyboard_key(video, s), layout.produced(video.video_id, "storyboard"),
                       PROMPT_VERSION, s.agents.fingerprint(), sidecar)


def design_key(layout: Layout, video: VideoRef, scene: int, s: Settings) -> str:
    from lvas.kb.labels import data_hash

    return keys.digest("design", script_key(layout, video, s), layout.produced(video.video_id, "script"), scene,
                       data_hash())


def render_key(layout: Layout, video: VideoRef, scene: int, s: Settings) -> str:
    edits = edit_digest(layout, video, scene, s)  # only an edited scene's key changes
    return keys.digest("render", RENDER_VERSION, design_key(layout, video, scene, s),
                       layout.produced(video.video_id, "design", scene), s.synth.fingerprint(),
                       *([edits] if edits else []))


def reflect_key(layout: Layout, video: VideoRef, scene: int, s: Settings) -> str:
    # a bed this scene starts is edited with it, scored in every scene it continues into
    spanned = [render_key(layout, video, j, s) + layout.produced(video.video_id, "render", j)
               for j in bed_scenes(layout, video.video_id, scene)]
    return keys.digest("reflect", REFLECT_VERSION, render_key(layout, video, scene, s),
                       layout.produced(video.video_id, "render", scene), s.reflect.fingerprint(),
                       s.mix.fingerprint(), *spanned)


def bed_scenes(layout: Layout, video_id: str, scene: int) -> list[int]:
    """The later scenes a bed starting in ``scene`` continues into, from the render markers: a
    bed's file is listed, under its first scene's event name (``lvas.render.event_name``), by every
    scene it sounds in. Part of the scene's reflect key: its beds are scored in those scenes.

    Arguments:
        layout: the output folder.
        video_id: the video.
        scene: the scene the beds start in.

    Returns:
        The scene indices after ``scene`` that its beds reach, in order (empty when none).
    """
    marker = layout.read_marker(video_id, "render", scene) or {}
    prefix = f"scene{scene:04d}_"
    beds = {name: path for name, path in (marker.get("outputs") or {}).items() if name.startswith(prefix)}
    out: list[int] = []
    j = scene + 1
    while beds:
        later = (layout.read_marker(video_id, "render", j) or {}).get("outputs") or {}
        beds = {name: path for name, path in beds.items() if later.get(name) == path}
        if beds:
            out.append(j)
        j += 1
    return out


def reflecting(s: Settings) -> bool:
    """The run has a reflect stage: asked for in the stage list and enabled."""
    return "reflect" in s.run.stages and s.reflect.enabled


def mix_key(layout: Layout, video: VideoRef, n_scenes: int, s: Settings) -> str:
    parts = [render_key(layout, video, i, s) + layout.produced(video.video_id, "render", i) for i in range(n_scenes)]
    if reflecting(s):
        parts += [layout.produced(video.video_id, "reflect", i) for i in range(n_scenes)]
    return keys.digest("mix", MIX_VERSION, *parts, s.mix.fingerprint())


# --------------------------------------------------------------------------- stages


def storyboard_stage(layout: Layout, video: VideoRef, s: Settings) -> StageResult:
    from lvas.storyboard import run_storyboard

    board = run_storyboard(video, layout, s.storyboard)
    outputs = {"shots": str(layout.shots(video.video_id)), "frames": str(layout.frames(video.video_id))}
    return outputs, {"shots": len(board.shots), "duration_s": board.info.duration_s}


def script_stage(layout: Layout, video: VideoRef, s: Settings) -> StageResult:
    from lvas.agents import get_agents
    from lvas.agents.artifacts import save_calls, save_script
    from lvas.agents.captions import load_sidecar
    from lvas.agents.script import window_script, write_script
    from lvas.storyboard import load_storyboard

    board = load_storyboard(layout, video.video_id)
    sidecar = load_sidecar(video.captions_path) if video.captions_path else None
    agents = get_agents(s.agents, layout=layout, video_id=video.video_id)
    video_dir = layout.video_dir(video.video_id)
    try:
        if s.agents.baseline == "fixed-window":  # no agents at all
            script = window_script(board, video_dir, None, s.agents.window_s)
        elif not s.agents.structure:  # the --no-structure ablation: windows, no scene discussion
            script = window_script(board, video_dir, agents, s.agents.window_s, sidecar=sidecar)
        else:
            script = write_script(board, video_dir, agents, sidecar=sidecar)
    finally:  # the calls of a failed script are the ones worth reading
        save_calls(layout.video_dir(video.video_id) / "llm_calls_script.parquet", list(agents.calls))
    save_script(layout.script(video.video_id), script)
    return {"script": str(layout.script(video.video_id))}, {"scenes": len(script.scenes)}


def design_videos(layout: Layout, videos: list[tuple[VideoRef, int]], s: Settings, retrieve: RetrieveLayers,
                  run_id: str = "", worker: str = "") -> dict[str, BaseException]:
    """The design stage of several videos (each with its scene count): the scenes not designed yet,
    all in lockstep (:func:`design_batch`), each a unit with its own marker and status record.
    Returns {video id: its first error} of the videos with a failed scene."""
    from lvas.storage.units import run_scene_units

    by_id = {v.video_id: v for v, _ in videos}
    failed = run_scene_units(
        layout, stage="design", run_id=run_id, worker=worker,
        units=[(v.video_id, v.source, {i: design_key(layout, v, i, s) for i in range(n)}) for v, n in videos],
        work=lambda todo: design_batch(layout, [(by_id[vid], sc) for vid, sc in todo], s, retrieve))
    errors: dict[str, BaseException] = {}
    for (vid, _), exc in failed.items():
        errors.setdefault(vid, exc)
    return errors


def design_batch(layout: Layout, todo: list[tuple[VideoRef, list[int]]], s: Settings,
                 retrieve: RetrieveLayers) -> dict[tuple[str, int], Outputs | Exception]:
    """Design-refine the given scenes of several videos in lockstep (one batched retrieval per
    round for all of them); each scene's design is written to its own table. Returns outputs or
    the error, per (video id, scene)."""
    from lvas.agents import drain_calls, get_agents
    from lvas.agents.artifacts import load_script, save_calls, save_designs
    from lvas.agents.captions import load_sidecar
    from lvas.agents.design import baseline_design, design_refine_jobs
    from lvas.errors import InputError
    from lvas.storyboard import load_storyboard
    from lvas.timeline import label_retrieval, label_sets, scene_timing, sidecar_event_problems

    out: dict[tuple[str, int], Outputs | Exception] = {}
    if s.agents.baseline == "fixed-window":  # no Designer: one generic prompt per window
        for video, scenes in todo:
            script = load_script(layout.script(video.video_id))
            for i in scenes:
                save_designs(layout.scene_design(video.video_id, i), [baseline_design(script, script.scenes[i])])
                out[(video.video_id, i)] = {"design": str(layout.scene_design(video.video_id, i))}
        return out
    agents, jobs, timing = {}, {}, {}
    for video, scenes in todo:
        script = load_script(layout.script(video.video_id))
        board = load_storyboard(layout, video.video_id)
        sidecar = load_sidecar(video.captions_path) if video.captions_path else None
        problems = sidecar_event_problems(sidecar, board.info.duration_s, str(video.captions_path))
        if problems:  # the video's own input is wrong: its scenes fail with the reason, the others go on
            out |= {(video.video_id, i): InputError("; ".join(problems)) for i in scenes}
            continue
        agents[video.video_id] = get_agents(s.agents, layout=layout, video_id=video.video_id)
        jobs |= {(video.video_id, i): (script.scenes[i], script, agents[video.video_id]) for i in scenes}
        timing |= {(video.video_id, i): scene_timing(layout, board, script.scenes[i], sidecar) for i in scenes}
    known, excluded = label_sets(s.agents)
    if not s.agents.rag:  # the --no-rag ablation: every label of the layer, unranked, no retrieval
        retrieve = label_retrieval(known - excluded)
    results = design_refine_jobs(jobs, retrieve, s.agents.max_rounds, concurrency=s.agents.concurrency,
                                 settings=s.agents, timing=timing, known=known, excluded=excluded)
    for vid, ag in agents.items():
        save_calls(layout.video_dir(vid) / "llm_calls_design.parquet", drain_calls(ag))
    for (vid, i), res in results.items():
        if isinstance(res, Exception):
            out[(vid, i)] = res
            continue
        save_designs(layout.scene_design(vid, i), [res])
        out[(vid, i)] = {"design": str(layout.scene_design(vid, i))}
    return out


def collect_designs(layout: Layout, video: VideoRef, n_scenes: int) -> Path:
    """Concatenate the per-scene design tables into the video's design.parquet."""
    from lvas.agents.artifacts import load_designs, save_designs

    designs = [d for i in range(n_scenes) for d in load_designs(layout.scene_design(video.video_id, i))]
    save_designs(layout.design(video.video_id), designs)
    return layout.design(video.video_id)


def video_events(layout: Layout, video: VideoRef, s: Settings) -> list[SoundEvent]:
    """Every timed event of a video from its design table (``collect_designs``), a bed that
    continues across a cut joined into one event (``lvas.agents.events``), with the video's kept
    edit turns applied (``lvas.edits``)."""
    events = _design_events(layout, video, s)
    return edited_events(layout, video, events, s) if edits_path(layout, video.video_id).exists() else events


def edited_events(layout: Layout, video: VideoRef, events: list[SoundEvent], s: Settings,
                  more: list[Any] | None = None) -> list[SoundEvent]:
    """``events`` with every kept edit turn applied (``lvas.edits``), then ``more`` operations."""
    from lvas.agents.artifacts import load_script
    from lvas.edits import apply_ops, turn_ops
    from lvas.storyboard import load_storyboard
    from lvas.timeline import label_sets

    script = load_script(layout.script(video.video_id))
    duration = load_storyboard(layout, video.video_id).info.duration_s
    known, excluded = label_sets(s.agents)
    return apply_ops(events, [*turn_ops(layout, video.video_id), *(more or [])],
                     [(sc.start_s, sc.end_s) for sc in script.scenes], duration, known, excluded)


def edit_digest(layout: Layout, video: VideoRef, scene: int, s: Settings) -> str:
    """A digest of the scene's events as edited ("" when no edit touches it): part of its render key."""
    if not edits_path(layout, video.video_id).exists():
        return ""
    from lvas.edits import scene_edit_digests

    base = _design_events(layout, video, s)
    return scene_edit_digests(base, edited_events(layout, video, base, s)).get(scene, "")


def _design_events(layout: Layout, video: VideoRef, s: Settings) -> list[SoundEvent]:
    from lvas.agents.artifacts import load_designs, load_script
    from lvas.agents.events import join_continuing, scene_events
    from lvas.timeline import label_sets

    script = load_script(layout.script(video.video_id))
    _, excluded = label_sets(s.agents)
    designs = {d.scene_index: d for d in load_designs(layout.design(video.video_id))}  # one table a video
    events = [ev for sc in script.scenes for ev in scene_events(sc, designs[sc.index].final, s.agents, excluded)]
    return join_continuing(events, script.scenes)


def render_stage(layout: Layout, video: VideoRef, scene: int, s: Settings) -> StageResult:
    """Render the timed events that sound in the scene, a bed continuing across its cuts included
    (so rerunning one scene renders what changed in it); an event rendered before with the same
    spec and synth settings is reused, whichever scene's task rendered it."""
    (done,) = render_scenes(layout, [(video, [scene])], s).values()
    if isinstance(done, BaseException):
        raise done
    return done


def render_videos(layout: Layout, scenes: list[tuple[VideoRef, int]], s: Settings, run_id: str = "",
                  worker: str = "") -> dict[tuple[str, int], BaseException]:
    """The render stage of several scenes of one or more videos (one render task): the scenes not
    rendered yet with their current keys, all at once (:func:`render_scenes`), each a unit with its
    own marker and status record. Returns {(video id, scene): error} of the scenes that failed."""
    from lvas.storage.units import run_scene_units

    by_id = {v.video_id: v for v, _ in scenes}
    keys: dict[str, dict[int, str]] = {}
    for v, i in scenes:
        keys.setdefault(v.video_id, {})[i] = render_key(layout, v, i, s)
    return run_scene_units(
        layout, stage="render", run_id=run_id, worker=worker,
        units=[(vid, by_id[vid].source, k) for vid, k in keys.items()],
        work=lambda todo: render_scenes(layout, [(by_id[vid], sc) for vid, sc in todo], s))


def render_scenes(layout: Layout, todo: list[tuple[VideoRef, list[int]]], s: Settings
                  ) -> dict[tuple[str, int], StageResult | BaseException]:
    """Render the events of several scenes of several videos together (as :func:`render_stage`
    does for one): a batching synthesizer shares its model calls among equal windows of all of them
    (``lvas.render.render_event_files``). Returns per (video id, scene) its ``(outputs, extra)``
    or the first error of its events."""
    from lvas.render import event_name, event_specs, render_event_files

    out: dict[tuple[str, int], StageResult | BaseException] = {}
    owners: list[tuple[str, int]] = []
    specs: list[LayerSpec] = []
    counts: dict[tuple[str, int], int] = {}
    for video, wanted in todo:
        try:
            events = video_events(layout, video, s)
        except Exception as exc:  # the video's script or designs: its scenes fail, the others go on
            out.update({(video.video_id, i): exc for i in wanted})
            continue
        for i in wanted:
            owned = [ev for ev in events if i in ev.scenes]
            counts[(video.video_id, i)] = len(owned)
            specs += event_specs(video, owned, s.synth)
            owners += [(video.video_id, i)] * len(owned)
    files = render_event_files(specs, layout, s.synth, RENDER_VERSION)
    outputs: dict[tuple[str, int], Outputs] = {key: {} for key in counts}
    for key, spec, done in zip(owners, specs, files, strict=True):
        if isinstance(done, BaseException):
            out.setdefault(key, done)
        else:
            outputs[key][event_name(spec)] = done
    for key, n in counts.items():
        out.setdefault(key, (outputs[key], {"events": n}))
    return out


def reflect_videos(layout: Layout, videos: list[tuple[VideoRef, int]], s: Settings, run_id: str = "",
                   worker: str = "") -> dict[str, BaseException]:
    """The reflect stage of several videos (each with its scene count): every scene not reflected
    yet is scored and, below ``reflect.threshold``, repaired; each scene a unit with its own marker
    and status record. A scene whose scorer fails fails alone, its render untouched.
    Returns {video id: its first error} of the videos with a failed scene."""
    from lvas.storage.units import run_scene_units

    by_id = {v.video_id: v for v, _ in videos}
    failed = run_scene_units(
        layout, stage="reflect", run_id=run_id, worker=worker,
        units=[(v.video_id, v.source, {i: reflect_key(layout, v, i, s) for i in range(n)}) for v, n in videos],
        work=lambda todo: reflect_batch(layout, [(by_id[vid], sc) for vid, sc in todo], s))
    errors: dict[str, BaseException] = {}
    for (vid, _), exc in failed.items():
        errors.setdefault(vid, exc)
    return errors


def reflect_batch(layout: Layout, todo: list[tuple[VideoRef, list[int]]], s: Settings
                  ) -> dict[tuple[str, int], Any]:
    """Reflect the given scenes of several videos, all in lockstep (every scene's cycle k before
    any scene's cycle k + 1, as the design loop's rounds); then, in lockstep too, the beds those
    scenes start that continue across a cut, each scored in every scene it spans with the scenes'
    own events as their loops kept them (``lvas.reflection.start_bed``). Outputs or the error, per
    (video id, scene); a bed that cannot be scored fails the scene it starts in."""
    from lvas.agents.artifacts import load_script
    from lvas.audio.reflect import run_lockstep
    from lvas.reflection import finish_scene, kept_takes, owned_beds, scene_takes, scorer_for, start_bed, start_scene

    out: dict[tuple[str, int], Any] = {}
    try:
        scorer = scorer_for(s)
    except Exception as exc:  # every scene of the batch says why
        return {(v.video_id, i): exc for v, scenes in todo for i in scenes}
    pending: dict[tuple[str, int], Any] = {}
    videos: dict[str, tuple[VideoRef, list[SoundEvent], dict[int, tuple[float, float]]]] = {}
    for video, scenes in todo:
        try:
            script = load_script(layout.script(video.video_id))
            events = video_events(layout, video, s)
        except Exception as exc:  # this video's scenes fail, the others go on
            out |= {(video.video_id, i): exc for i in scenes}
            continue
        videos[video.video_id] = (video, events, {sc.index: (sc.start_s, sc.end_s) for sc in script.scenes})
        for i in scenes:
            sc = script.scenes[i]
            try:
                pending[(video.video_id, i)] = start_scene(layout, video, i, events, sc.start_s, sc.end_s, s, scorer,
                                                           RENDER_VERSION)
            except Exception as exc:  # one scene's failure is its own
                out[(video.video_id, i)] = exc
    run_lockstep([p.loop for p in pending.values()])

    def kept(vid: str, j: int) -> dict[str, Any]:  # scene j's own events as its loop kept them
        if (vid, j) in pending:
            return scene_takes(pending[(vid, j)])
        if (vid, j) in out:  # its check failed: as rendered
            return {}
        video, events, _ = videos[vid]
        return kept_takes(layout, video, j, events, s, RENDER_VERSION)  # reflected before

    for (vid, i), p in list(pending.items()):
        video, events, spans = videos[vid]
        try:
            for bed in owned_beds(events, i):
                takes = {j: kept(vid, j) for j in bed.scenes}
                p.beds.append(start_bed(layout, video, bed, events, spans, s, scorer, RENDER_VERSION, takes))
        except Exception as exc:  # the scene that starts the bed fails with its reason
            out[(vid, i)] = exc
            del pending[(vid, i)]
    run_lockstep([b.loop for p in pending.values() for b in p.beds])
    for p in pending.values():
        try:
            out[(p.video_id, p.scene)] = finish_scene(layout, p)
        except Exception as exc:  # one scene's failure is its own
            out[(p.video_id, p.scene)] = exc
    return out


def save_cue_sheet(path: Path, video_id: str, events: list[SoundEvent], specs: list[LayerSpec],
                   files: list[str]) -> None:
    """Write the cue sheet: one row per event (scene, layer, label, prompt, start, end, gain, seed, file)."""
    from lvas.storage.atomic import write_parquet

    rows = [{"video_id": video_id, "scene": ev.scene_index, "event": ev.index, "layer": ev.layer, "label": ev.label,
             "prompt": ev.prompt, "start_s": ev.start_s, "end_s": ev.end_s, "gain_db": ev.gain_db, "seed": spec.seed,
             "scenes": ",".join(map(str, ev.scenes)), "file": Path(f).name}
            for ev, spec, f in zip(events, specs, files, strict=True)]
    if rows:
        write_parquet(path, rows)
    else:
        import pyarrow as pa

        write_parquet(path, pa.table({k: pa.array([], t) for k, t in (
            ("video_id", pa.string()), ("scene", pa.int64()), ("event", pa.int64()), ("layer", pa.string()),
            ("label", pa.string()), ("prompt", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64()),
            ("gain_db", pa.float64()), ("seed", pa.int64()), ("scenes", pa.string()), ("file", pa.string()))}))


def scores_path(layout: Layout, video_id: str) -> Path:
    """The video's ``scores.parquet``: each scene of the final mix scored against its picture."""
    return layout.video_dir(video_id) / "scores.parquet"


def reflect_path(layout: Layout, video_id: str) -> Path:
    """The video's ``reflect.parquet``: every reflection cycle of every scene."""
    return layout.video_dir(video_id) / "reflect.parquet"


def save_scores(layout: Layout, video: VideoRef, n_scenes: int, spans: list[tuple[int, float, float]],
                s: Settings) -> list[dict[str, Any]]:
    """Score the final mix per scene into ``scores.parquet``, and gather ``reflect.parquet`` when the
    run reflects. Returns the score rows."""
    from lvas.reflection import gather_cycles, score_video
    from lvas.storage.atomic import write_parquet

    rows = score_video(layout, video, layout.mix(video.video_id), spans, s)
    write_parquet(scores_path(layout, video.video_id), rectangular(rows))
    if reflecting(s):
        cycles = gather_cycles(layout, video.video_id, n_scenes)
        write_parquet(reflect_path(layout, video.video_id), rectangular(cycles or [{"video_id": video.video_id}]))
    return rows


def rectangular(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with every key of any row (None where a row lacks it): Arrow takes its columns from the first."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in names} for r in rows]


def clean_original(video_path: str, mix_wav: Path, s: Settings) -> bool:
    """``mix.original_audio = clean``: the video's own track, denoised, mixed into ``mix_wav`` with
    the new sound ducked under it (``lvas.audio.original``). False (mix untouched) without a track."""
    import soundfile as sf

    from lvas.audio.original import clean_track, decode_track, duck_under
    from lvas.storage.atomic import atomic_path

    new, sr = sf.read(str(mix_wav), dtype="float32", always_2d=True)
    original = decode_track(video_path, sr, new.shape[1])
    if original is None:
        return False
    mixed = duck_under(new, clean_track(original, sr), sr, s.mix.duck_db, s.mix.target_lufs, s.mix.true_peak_dbtp)
    with atomic_path(mix_wav) as tmp:
        sf.write(str(tmp), mixed, sr, subtype="PCM_24", format="WAV")
    return True


def mix_stage(layout: Layout, video: VideoRef, s: Settings) -> StageResult:
    """Place every scene's timed events (stems and cue sheet), mux the dubbed MP4, build the report."""
    from lvas.agents.artifacts import load_designs, load_script
    from lvas.audio.mix import mix_events
    from lvas.media.mux import mux
    from lvas.models import RenderedLayer
    from lvas.render import event_key, event_specs
    from lvas.report import build_report
    from lvas.storyboard import load_storyboard

    vid = video.video_id
    board = load_storyboard(layout, vid)
    script = load_script(layout.script(vid))
    designs = load_designs(layout.design(vid))
    events = video_events(layout, video, s)
    specs = event_specs(video, events, s.synth)
    files = [str(layout.event_wav(vid, sp.scene_index, event_key(sp, s.synth, RENDER_VERSION))) for sp in specs]
    if reflecting(s):  # the edits the reflect stage kept replace their events' renders
        from lvas.reflection import kept_edits

        edits = {k: v for i in range(len(script.scenes)) for k, v in kept_edits(layout, vid, i).items()}
        specs = [sp.model_copy(update={"gain_db": sp.gain_db + edits[Path(f).name][1]})
                 if Path(f).name in edits else sp for sp, f in zip(specs, files, strict=True)]
        # a kept next-label edit sounds another label: the cue sheet says which
        events = [ev.model_copy(update={"label": edits[Path(f).name][2], "prompt": edits[Path(f).name][2]})
                  if Path(f).name in edits and edits[Path(f).name][2] else ev
                  for ev, f in zip(events, files, strict=True)]
        files = [edits[Path(f).name][0] if Path(f).name in edits else f for f in files]
    rendered = [RenderedLayer(spec=sp, wav_path=f, sample_rate=s.synth.sample_rate, backend=s.synth.backend)
                for sp, f in zip(specs, files, strict=True)]
    stems = {k: layout.stem(vid, k) for k in ("foreground", "background")}
    cuts = [sc.start_s for sc in script.scenes[1:]]
    # an ambience crosses a scene cut over its dissolve's or fade's span, a hard cut over the setting's
    crossfades = [board.crossfade_s(c, s.mix.scene_crossfade_s) for c in cuts]
    mixed = mix_events(rendered, cuts, board.info.duration_s, s.mix, s.synth.sample_rate, s.synth.channels,
                       layout.mix(vid), stems, crossfades)
    if s.mix.original_audio == "clean":
        clean_original(video.path, layout.mix(vid), s)
    save_cue_sheet(layout.events(vid), vid, events, specs, files)
    scores = save_scores(layout, video, len(script.scenes), [(sc.index, sc.start_s, sc.end_s) for sc in script.scenes],
                         s)
    # The AAC encode (FFmpeg, outside the GIL) and the report figure (numpy and Pillow) overlap.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lvas-mux") as pool:
        muxed = pool.submit(mux, video.path, layout.mix(vid), layout.dubbed(vid),
                            keep_original_audio=s.mix.original_audio == "keep")
        report = build_report(layout, vid, board, script, designs, layout.mix(vid), events=events, scores=scores)
        muxed.result()
    outputs = {"mix": str(layout.mix(vid)), "dubbed": str(layout.dubbed(vid)), "report": str(report),
               "events": str(layout.events(vid)), "scores": str(scores_path(layout, vid)),
               **({"reflect": str(reflect_path(layout, vid))} if reflecting(s) else {}),
               **{f"stem_{k}": str(p) for k, p in stems.items()}}
    return outputs, {"events": len(events), "limited": mixed.limited, "limited_fraction": mixed.limited_fraction}


def is_finished(layout: Layout, video: VideoRef, s: Settings) -> bool:
    """True when every requested stage is done with the current keys and its artifacts are intact
    (by size): nothing to do. An artifact truncated or replaced since makes its unit run again."""
    stages = s.run.stages
    if layout.done(video.video_id, "storyboard", storyboard_key(video, s)) is None:
        return False
    if "script" not in stages:
        return True
    script = layout.done(video.video_id, "script", script_key(layout, video, s))
    if script is None:
        return False
    n = int(script.get("scenes", 0))
    for stage, key in (("design", design_key), ("render", render_key), ("reflect", reflect_key)):
        if stage == "reflect" and not reflecting(s):
            continue
        if stage in stages and not all(layout.done(video.video_id, stage, key(layout, video, i, s), i)
                                       for i in range(n)):
            return False
    return "mix" not in stages or layout.done(video.video_id, "mix", mix_key(layout, video, n, s)) is not None


def dub_video_direct(layout: Layout, video: VideoRef, s: Settings) -> dict[str, Any]:
    """Every stage of one video in this process, no orchestrator: the reference the benchmarks
    compare the flow against, and a debugging aid. Same units, markers and status records."""
    from functools import partial

    from lvas.kb.store import LabelStore
    from lvas.storage.units import run_unit

    store = LabelStore.from_settings(s.kb, layout.root)
    store.build()

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return store.labels_by_layer(texts, k=s.agents.retrieve_k)

    unit = partial(run_unit, layout, video_id=video.video_id, source=video.source)
    unit(stage="storyboard", key=storyboard_key(video, s), work=partial(storyboard_stage, layout, video, s))
    scripted = unit(stage="script", key=script_key(layout, video, s), work=partial(script_stage, layout, video, s))
    n = int(scripted["scenes"])
    failed = design_videos(layout, [(video, n)], s, retrieve)
    if failed:
        raise failed[video.video_id]
    collect_designs(layout, video, n)
    for i in range(n):
        unit(stage="render", scene=i, key=render_key(layout, video, i, s),
             work=partial(render_stage, layout, video, i, s))
    if reflecting(s):
        failed = reflect_videos(layout, [(video, n)], s)
        if failed:
            raise failed[video.video_id]
    return unit(stage="mix", key=mix_key(layout, video, n, s), work=partial(mix_stage, layout, video, s))


# --------------------------------------------------------------------------- edit turns


def edit_turn(layout: Layout, video: VideoRef, ops: list[Any], request: str, s: Settings) -> dict[str, Any]:
    """One edit turn of a dubbed video (``lvas edit``): validate ``ops`` against the video, save the
    state a turn can change, record the turn, re-render the touched scenes only (the per-event cache
    does the rest), reflect and re-mix. The caller holds the folder's run lock.

    Arguments:
        layout: the output folder.
        video: the video (dubbed before).
        ops: the turn's operations (``lvas.edits``).
        request: what was asked (kept with the turn).
        s: the settings the folder was dubbed with.

    Returns:
        ``{"turn": n, "rendered": [scenes re-rendered], "mix": the mix's outputs}``.

    Raises:
        InputError: the video is not dubbed, or an operation is refused (nothing changed).
    """
    from functools import partial

    from lvas.agents.artifacts import load_script
    from lvas.edits import load_turns, restore, save_turn, snapshot
    from lvas.errors import InputError
    from lvas.storage.units import run_unit

    vid = video.video_id
    if layout.read_marker(vid, "mix") is None:
        raise InputError(f"{vid} has no finished mix in {layout.root}: dub it first (lvas dub)")
    edited_events(layout, video, _design_events(layout, video, s), s, more=ops)  # refuses before any change
    n_scenes = len(load_script(layout.script(vid)).scenes)
    turn = len(load_turns(layout, vid)) + 1
    snapshot(layout, vid, turn)
    try:
        save_turn(layout, vid, request, ops)
        unit = partial(run_unit, layout, video_id=vid, source=video.source)
        rendered = []
        for i in range(n_scenes):
            key = render_key(layout, video, i, s)
            if layout.done(vid, "render", key, i) is None:
                rendered.append(i)
            unit(stage="render", scene=i, key=key, work=partial(render_stage, layout, video, i, s))
        if reflecting(s):
            failed = reflect_videos(layout, [(video, n_scenes)], s)
            if failed:
                raise failed[vid]
        marker = unit(stage="mix", key=mix_key(layout, video, n_scenes, s), work=partial(mix_stage, layout, video, s))
    except BaseException:
        restore(layout, vid, turn)  # nothing half-done stays
        raise
    return {"turn": turn, "rendered": rendered, "mix": marker.get("outputs", {})}


def undo_turn(layout: Layout, video_id: str) -> int:
    """Undo the video's last edit turn: its folder back byte for byte as it was before that turn.

    Returns:
        The number of the turn undone.

    Raises:
        InputError: the video has no edit turn.
    """
    from lvas.edits import load_turns, restore
    from lvas.errors import InputError

    turns = load_turns(layout, video_id)
    if not turns:
        raise InputError(f"{video_id} has no edit turn to undo")
    restore(layout, video_id, len(turns))
    return len(turns)
