"""``lvas compose``: long-form audio from one instruction, no video (AudioStory's task).

An instruction and a duration become a composition in three stages, each a unit with its own
completion marker and status record under ``out/videos/<job id>/`` (so ``lvas status`` and the
report work as for dubbed videos):

1. **plan** — timed story segments, each with its detail and its sound events (start, end, layer,
   gain), every event mapped onto a knowledge-base label. The LLM planner (``agents.backend=openai``)
   asks the model for the segments and events; times it answers outside the composition, gaps or
   overlaps between segments, are sent back once with the reasons, then repaired. The offline
   planner is described at :func:`plan_offline`.
2. **render** — every event text-to-audio for its own span (``lvas.render.render_events``, cached
   per event). A sound that continues from one segment into the next is one event (one label, one
   seed, rendered once across the boundary), as a continuation model would be conditioned on it.
3. **mix** — events placed on the timeline (``lvas.audio.mix.mix_events``); an ambience that
   changes at a segment boundary is crossfaded over ``compose.overlap_s``; the track has exactly
   the requested duration. Cue sheet, stems, mix and a report as for a dubbed video.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lvas import keys
from lvas.agents.base import enforce_design
from lvas.agents.events import fit_items, join_continuing, scene_events
from lvas.agents.offline import content_stems
from lvas.errors import InputError
from lvas.kb.labels import Label, load_labels
from lvas.models import Caption, Frozen, SoundDesign, SoundEvent, SoundItem, StorySegment, VideoRef
from lvas.settings import ComposeSettings, Settings
from lvas.storage.layout import Layout

PLAN_VERSION = "1"
Outputs = dict[str, str]
StageResult = tuple[Outputs, dict[str, Any]]

# Words that end what sounded before them ("the storm passes", "the rain stops").
_ENDING = re.compile(r"\b(pass(?:es|ed|ing)?|stops?|stopped|fades?|faded|ends?|ended|dies?|died|quiet(?:s|ens)?|"
                     r"silence|calms?|clears?)\b", re.IGNORECASE)
_CLAUSES = re.compile(r"[,;.!?]+|\b(?:then|after that|afterwards|later|finally|meanwhile)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")
# Verbs that move a story along but name no sound of their own ("rolls in", "passes", "grows").
_STORY_VERBS = frozenset("pass roll grow start move come go turn fall rise begin build get become".split())  # noqa: SIM905


# --------------------------------------------------------------------------- jobs


class ComposeJob(Frozen):
    """One composition to make: an instruction and the duration asked for."""

    job_id: str
    instruction: str
    duration_s: float
    source: str = Field("", description="where it came from: the command line or a manifest row")

    def ref(self) -> VideoRef:
        """The id, source and (empty) path the status records and run units are keyed by."""
        return VideoRef(source=self.source or self.instruction[:200], path="", video_id=self.job_id)


def job_id_for(instruction: str) -> str:
    """A folder-safe id: the instruction's first words and a hash of all of it (stable across runs)."""
    words = _WORD.findall(instruction.lower())[:5]
    digest = hashlib.sha256(instruction.strip().encode()).hexdigest()[:10]
    return "-".join([*words, digest]) if words else f"compose-{digest}"


def make_job(instruction: object, duration_s: object, s: ComposeSettings, where: str) -> ComposeJob:
    """Validate one instruction and its duration.

    Raises:
        InputError: the instruction is empty or longer than ``max_instruction_chars``, or the
            duration is not a number in (0, ``max_duration_s``]; the message names ``where``.
    """
    text = instruction.strip() if isinstance(instruction, str) else ""
    if not text:
        raise InputError(f"{where}: the instruction is empty")
    if len(text) > s.max_instruction_chars:
        raise InputError(f"{where}: the instruction has {len(text)} characters; at most "
                         f"{s.max_instruction_chars} (compose.max_instruction_chars)")
    try:
        seconds = float(duration_s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{where}: duration {duration_s!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > s.max_duration_s:
        raise InputError(f"{where}: duration {duration_s!r} s is outside (0, {s.max_duration_s:g}] "
                         "(compose.max_duration_s)")
    return ComposeJob(job_id=job_id_for(text), instruction=text, duration_s=round(seconds, 3), source=where)


def read_manifest(path: str | Path, default_duration_s: float, s: ComposeSettings
                  ) -> tuple[list[ComposeJob], list[str]]:
    """Jobs from a ``.csv``, ``.parquet`` or ``.jsonl`` manifest with an ``instruction`` column and
    optionally ``duration_s`` (else ``default_duration_s``).

    Returns:
        ``(jobs, problems)``: one bad row is a problem naming the file and row, never a stop.

    Raises:
        InputError: the file cannot be read or has no ``instruction`` column.
    """
    p = Path(path)
    try:
        if p.suffix == ".jsonl":
            rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif p.suffix in (".csv", ".parquet"):
            import pyarrow.csv as pcsv
            import pyarrow.parquet as pq

            table = pq.read_table(p) if p.suffix == ".parquet" else pcsv.read_csv(p)
            rows = table.to_pylist()
        else:
            raise InputError(f"{p}: a compose manifest is .csv, .parquet or .jsonl")
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid and json's errors are ValueErrors
        raise InputError(f"{p}: cannot read the manifest ({exc})") from None
    if rows and not all(isinstance(r, dict) and "instruction" in r for r in rows):
        raise InputError(f"{p}: every row needs an 'instruction' column")
    jobs, problems = [], []
    for n, row in enumerate(rows, start=1):
        try:
            jobs.append(make_job(row.get("instruction"), row.get("duration_s") or default_duration_s, s,
                                 f"{p} row {n}"))
        except InputError as exc:
            problems.append(str(exc))
    return jobs, problems


def recorded_jobs(layout: Layout) -> list[ComposeJob]:
    """The compositions ``lvas compose`` was given in this output folder (for reruns), oldest first."""
    from lvas.storage.runs import read_compositions

    return [ComposeJob.model_validate(row) for row in read_compositions(layout)]


# --------------------------------------------------------------------------- plans


def clauses(instruction: str) -> list[str]:
    """The instruction cut at punctuation and at "then", "after that", "finally"...: story beats."""
    return [c.strip() for c in _CLAUSES.split(instruction) if c and _WORD.search(c)]


def segment_spans(count: int, duration: float, min_segment_s: float) -> list[tuple[float, float]]:
    """``count`` equal segments covering ``[0, duration]`` (fewer when they would be shorter than
    ``min_segment_s``)."""
    n = max(1, min(count, int(duration // min_segment_s) or 1))
    edges = [round(duration * k / n, 4) for k in range(n + 1)]
    edges[-1] = float(duration)
    return list(itertools.pairwise(edges))


def match_labels(text: str, labels: Sequence[Label], excluded: Collection[str] = ()) -> list[Label]:
    """Knowledge-base labels the words of ``text`` name, best first, one per family.

    A word names a label's word when they are the same stem, when the word is a compound of it
    ("thunderstorm" names "thunder"), or when the label's word is a compound ending in the word
    ("foghorn" for "horn", "songbirds" for "birds"; not "train" for "rain"). A label counts when at
    least half of its name's words are named; the share decides the order, so the most specific
    name wins ("foghorn" over "vehicle horn").
    """
    words = content_stems(text) - _STORY_VERBS

    def named(n: str) -> bool:
        return any(n == w or (len(n) >= 4 and w.startswith(n)) or (len(w) >= 4 and n.endswith(w)
                                                                  and len(n) - len(w) >= 3) for w in words)

    scored = []
    for order, label in enumerate(labels):
        name = content_stems(label.label)
        share = sum(map(named, name)) / max(1, len(name))
        if share >= 0.5 and label.label not in excluded:
            scored.append((-share, order, label))
    out, families = [], set()
    for _, _, label in sorted(scored, key=lambda t: t[:2]):
        if label.family not in families:
            out.append(label)
            families.add(label.family)
    return out


def plan_offline(instruction: str, duration: float, s: ComposeSettings, excluded: Collection[str] = (),
                 labels: Sequence[Label] | None = None) -> list[StorySegment]:
    """The offline planner: story beats from the instruction's words and the knowledge base.

    It does not understand the story; it reads words. Each clause of the instruction (cut at
    punctuation and at "then", "finally"...) is a segment, all of equal length (merged when they
    would be shorter than ``min_segment_s``). In each clause, the knowledge-base labels its words
    name (:func:`match_labels`) are its sounds: ambience labels become beds, event labels
    foreground events. A bed continues into the next segments until a clause says something ends
    ("passes", "stops", "fades"...) or two newer beds replace it; a segment whose words name no bed
    keeps the beds before it (the first segments may have none). The j-th event of a segment starts
    at (0.15 + 0.25 j) of it and lasts ``event_s`` at most (40% of the segment at most), the first at
    0 dB, the others at -3 dB. Nothing is planned from moods, from the order of events inside a
    clause, or from words that name no label.

    Returns:
        Segments covering ``[0, duration]`` exactly.
    """
    labels = list(labels or load_labels())
    beats = clauses(instruction) or [instruction]
    spans = segment_spans(len(beats), duration, s.min_segment_s)
    per = math.ceil(len(beats) / len(spans))
    groups = [" ".join(beats[i:i + per]) for i in range(0, len(beats), per)][: len(spans)]
    beds: list[Label] = []
    segments = []
    for k, ((a, b), text) in enumerate(zip(spans, groups, strict=True)):
        named = match_labels(text, labels, excluded)
        if _ENDING.search(text):
            beds = []
        new_beds = [lab for lab in named if lab.layer == "ambience"]
        beds = ([lab for lab in beds if lab not in new_beds] + new_beds)[-2:]
        length = b - a
        audio = []
        for j, lab in enumerate(lab for lab in named if lab.layer != "ambience"):
            start = round(((0.15 + 0.25 * j) % 0.9) * length, 3)
            end = round(min(length, start + min(s.event_s, 0.4 * length)), 3)
            audio.append(SoundItem(description=lab.label, label=lab.label, primary=j == 0, start_s=start,
                                   end_s=end, gain_db=0.0 if j == 0 else -3.0))
        background = [SoundItem(description=lab.label, label=lab.label, primary=i == len(beds) - 1, start_s=0.0,
                                end_s=round(length, 4), gain_db=0.0 if i == len(beds) - 1 else -4.0)
                      for i, lab in enumerate(beds)]
        reasoning = f"offline planner: labels named by the words: {', '.join(x.label for x in named) or 'none'}"
        segments.append(StorySegment(index=k, start_s=a, end_s=b, detail=text,
                                     design=SoundDesign(reasoning=reasoning, audio=audio, background=background,
                                                        volume=1.0)))
    return segments


def story_events(segments: Sequence[StorySegment], settings: Settings, excluded: Collection[str] = ()
                 ) -> list[SoundEvent]:
    """The composition's events: each segment's design fitted to the rules, then every sound that
    continues across a segment boundary joined into one event."""
    scenes = [seg.scene() for seg in segments]
    events = []
    for seg, scene in zip(segments, scenes, strict=True):
        fitted = fit_items(seg.design, scene.duration_s, settings.agents, excluded)
        events += scene_events(scene, fitted, settings.agents, excluded)
    return join_continuing(events, scenes)


# --------------------------------------------------------------------------- LLM planner


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoryAnswer(_Answer):
    """The Composer's answer: the story's timed segments, each with its sound events."""

    segments: list[StorySegmentAnswer] = Field(min_length=1, max_length=64)


class StorySegmentAnswer(_Answer):
    start_s: float
    end_s: float
    detail: str = Field(min_length=1, max_length=1000)
    audio: list[dict[str, Any]] = Field(default_factory=list, max_length=12)
    background: list[dict[str, Any]] = Field(default_factory=list, max_length=6)


StoryAnswer.model_rebuild()


def check_story(answer: StoryAnswer, duration: float) -> list[str]:
    """What is wrong with a Composer's segments: gaps, overlaps, times outside ``[0, duration]``."""
    problems = []
    segs = answer.segments
    if abs(segs[0].start_s) > 0.05:
        problems.append(f"segment 0 starts at {segs[0].start_s:g} s, not at 0")
    if abs(segs[-1].end_s - duration) > 0.05:
        problems.append(f"the last segment ends at {segs[-1].end_s:g} s, not at {duration:g}")
    for k, seg in enumerate(segs):
        if seg.end_s <= seg.start_s:
            problems.append(f"segment {k}: end {seg.end_s:g} s is not after start {seg.start_s:g} s")
        if k and abs(seg.start_s - segs[k - 1].end_s) > 0.05:
            problems.append(f"segment {k} starts at {seg.start_s:g} s but segment {k - 1} ends at "
                            f"{segs[k - 1].end_s:g} s")
    return problems


def plan_llm(instruction: str, duration: float, settings: Settings, retrieve: Callable[..., Any],
             excluded: Collection[str] = ()) -> list[StorySegment]:
    """The LLM planner: the Composer plans segments and events; each sound takes its top retrieved
    label (not an excluded one). Times the model gets wrong go back to it once with the reasons.

    Raises:
        AgentOutputError: the answer stayed invalid; BackendUnavailable: the endpoint failed.
    """
    from lvas.agents import prompts
    from lvas.agents.schemas import SoundAnswer
    from lvas.backends.llm import OpenAIBackend, user_message
    from lvas.errors import AgentOutputError

    backend = OpenAIBackend(settings.agents)
    text = (f"Compose {duration:g} seconds of sound. Segments cover 0 to {duration:g} s with no gap; event "
            "times are seconds from their segment's start.\n" + prompts.data("instruction", instruction))
    messages = [prompts.system(prompts.COMPOSER, StoryAnswer), user_message(text)]
    answer = backend.complete("composer", settings.agents.model, messages, StoryAnswer)
    problems = check_story(answer, duration)
    if problems:
        messages += [{"role": "assistant", "content": answer.model_dump_json()},
                     user_message("Fix these and answer again: " + "; ".join(problems))]
        answer = backend.complete("composer", settings.agents.model, messages, StoryAnswer)
        problems = check_story(answer, duration)
    if problems:
        raise AgentOutputError(f"composer: the segments stayed invalid: {'; '.join(problems)}")
    segments = []
    for k, seg in enumerate(answer.segments):
        try:
            items = {layer: [SoundAnswer.model_validate(x) for x in getattr(seg, layer)]
                     for layer in ("audio", "background")}
        except ValidationError as exc:
            raise AgentOutputError(f"composer: segment {k}: {exc.errors()[0]['msg']}") from None
        wanted = {"event": [x.description for x in items["audio"]],
                  "ambience": [x.description for x in items["background"]]}
        found = retrieve({k2: v for k2, v in wanted.items() if v}) if any(wanted.values()) else {}

        def mapped(x: SoundAnswer, layer: str, found: dict = found) -> SoundItem:
            options = [c for c in found.get(layer, {}).get(x.description, []) if c not in excluded]
            return SoundItem(description=x.description, label=options[0] if options else None, primary=x.primary,
                             start_s=x.start_s, end_s=x.end_s, gain_db=x.gain_db)

        design = SoundDesign(audio=[mapped(x, "event") for x in items["audio"]],
                             background=[mapped(x, "ambience") for x in items["background"]], volume=1.0)
        # the Designer's rules hold here too: no speech or music unless allowed, no moods, no duplicates
        design = enforce_design(design, Caption(summary=instruction), allow_speech=settings.agents.allow_speech,
                                allow_music=settings.agents.allow_music)
        segments.append(StorySegment(index=k, start_s=seg.start_s, end_s=seg.end_s, detail=seg.detail, design=design))
    return segments


# --------------------------------------------------------------------------- stages


def plan_key(job: ComposeJob, s: Settings) -> str:
    from lvas.agents import agents_version
    from lvas.kb.labels import data_hash

    return keys.digest("compose-plan", PLAN_VERSION, job.instruction, job.duration_s, s.compose.fingerprint(),
                       agents_version(s.agents), s.agents.fingerprint(), data_hash())


def render_key(job: ComposeJob, s: Settings) -> str:
    from lvas.pipeline import RENDER_VERSION

    return keys.digest("compose-render", RENDER_VERSION, plan_key(job, s), s.synth.fingerprint())


def mix_key(job: ComposeJob, s: Settings) -> str:
    from lvas.pipeline import MIX_VERSION

    return keys.digest("compose-mix", MIX_VERSION, render_key(job, s), s.mix.fingerprint())


def plan_path(layout: Layout, job: ComposeJob) -> Path:
    return layout.video_dir(job.job_id) / "plan.parquet"


def save_plan(path: Path, segments: Sequence[StorySegment]) -> None:
    from lvas.storage.atomic import write_parquet

    write_parquet(path, [{"segment": g.index, "start_s": g.start_s, "end_s": g.end_s, "detail": g.detail,
                          "design": g.design.model_dump_json()} for g in segments])


def load_plan(path: Path) -> list[StorySegment]:
    from lvas.storage.atomic import read_parquet

    return [StorySegment(index=r["segment"], start_s=r["start_s"], end_s=r["end_s"], detail=r["detail"],
                         design=SoundDesign.model_validate_json(r["design"])) for r in read_parquet(path)]


def plan_stage(layout: Layout, job: ComposeJob, s: Settings, retrieve: Callable[..., Any] | None = None
               ) -> StageResult:
    """Plan the composition (LLM or offline planner) and write ``plan.parquet``."""
    from lvas.timeline import label_sets

    _, excluded = label_sets(s.agents)
    if s.agents.backend == "offline":
        segments = plan_offline(job.instruction, job.duration_s, s.compose, excluded)
    else:
        if retrieve is None:
            raise ValueError("the LLM planner needs a retrieve function")
        segments = plan_llm(job.instruction, job.duration_s, s, retrieve, excluded)
    save_plan(plan_path(layout, job), segments)
    return {"plan": str(plan_path(layout, job))}, {"segments": len(segments)}


def _specs(layout: Layout, job: ComposeJob, s: Settings) -> tuple[list[StorySegment], list[SoundEvent], list]:
    from lvas.render import event_specs
    from lvas.timeline import label_sets

    _, excluded = label_sets(s.agents)
    segments = load_plan(plan_path(layout, job))
    events = story_events(segments, s, excluded)
    return segments, events, event_specs(job.ref(), events, s.synth)


def render_stage(layout: Layout, job: ComposeJob, s: Settings) -> StageResult:
    """Render every event of the plan text-to-audio (cached per event)."""
    from lvas.pipeline import RENDER_VERSION
    from lvas.render import render_events

    _, events, specs = _specs(layout, job, s)
    return render_events(specs, layout, s.synth, RENDER_VERSION), {"events": len(events)}


def mix_stage(layout: Layout, job: ComposeJob, s: Settings) -> StageResult:
    """Place the events, master the track of exactly the requested length, write the cue sheet,
    stems and the report."""
    from lvas.audio.mix import mix_events
    from lvas.models import RenderedLayer
    from lvas.pipeline import RENDER_VERSION, save_cue_sheet
    from lvas.render import event_key
    from lvas.report import build_compose_report

    vid = job.job_id
    segments, events, specs = _specs(layout, job, s)
    files = [str(layout.event_wav(vid, sp.scene_index, event_key(sp, s.synth, RENDER_VERSION))) for sp in specs]
    rendered = [RenderedLayer(spec=sp, wav_path=f, sample_rate=s.synth.sample_rate, backend=s.synth.backend)
                for sp, f in zip(specs, files, strict=True)]
    stems = {k: layout.stem(vid, k) for k in ("foreground", "background")}
    mix_settings = s.mix.model_copy(update={"scene_crossfade_s": s.compose.overlap_s})
    mixed = mix_events(rendered, [g.start_s for g in segments[1:]], job.duration_s, mix_settings,
                       s.synth.sample_rate, s.synth.channels, layout.mix(vid), stems)
    save_cue_sheet(layout.events(vid), vid, events, specs, files)
    report = build_compose_report(layout, vid, job.instruction, segments, events, layout.mix(vid))
    outputs = {"mix": str(layout.mix(vid)), "events": str(layout.events(vid)), "report": str(report),
               **{f"stem_{k}": str(p) for k, p in stems.items()}}
    return outputs, {"events": len(events), "limited_fraction": mixed.limited_fraction,
                     "duration_s": mixed.duration_s}


def is_finished(layout: Layout, job: ComposeJob, s: Settings) -> bool:
    """True when the composition's mix is done with the current keys."""
    return layout.done(job.job_id, "mix", mix_key(job, s)) is not None


def compose_direct(layout: Layout, job: ComposeJob, s: Settings) -> dict[str, Any]:
    """Every stage of one composition in this process (offline planner only), no orchestrator:
    the benchmarks' reference and a debugging aid. Same units, markers and status records."""
    from functools import partial

    from lvas.storage.units import run_unit

    unit = partial(run_unit, layout, video_id=job.job_id, source=job.source or job.instruction[:200])
    unit(stage="plan", key=plan_key(job, s), work=partial(plan_stage, layout, job, s))
    unit(stage="render", key=render_key(job, s), work=partial(render_stage, layout, job, s))
    return unit(stage="mix", key=mix_key(job, s), work=partial(mix_stage, layout, job, s))
