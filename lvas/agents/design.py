"""The design-refine loop (LVAS-Agent Algorithm 2) for one scene.

Round r: the Designer writes a design (initial, or a revision following the last feedback) →
each item is looked up in the knowledge base through ``retrieve`` (foreground items as "event",
background items as "ambience") → the Synthesizer maps every item onto one of its retrieved
labels (or keeps the description when nothing fits) → the Designer reviews: FINAL ends the
loop, REVISE with feedback starts round r+1. At most ``max_rounds`` rounds; all are kept.

Every round's design is a timeline (``lvas.agents.events``): the Designer is given what was
measured of the scene (:class:`~lvas.agents.events.SceneTiming`: motion onsets, sustained motion)
to time its events on, items it left untimed get measured times, the timeline and the labels are checked against the
rules, and a broken rule turns the verdict to REVISE with the reasons as feedback, so the Designer
hears them in the next round; the mapped design is repaired so a last round obeys the rules too.
Labels in ``excluded`` (speech and music unless allowed) are left out of what retrieval returns.

``retrieve`` is injected (the lead passes a Prefect task over Chroma; tests pass a dict), so this
module imports neither the knowledge base nor Prefect.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from lvas.agents.base import Agents, Retrieve, RetrieveLayers, design_items, enforce_design
from lvas.agents.events import SceneTiming, check_items, fit_items, place_items
from lvas.errors import AgentOutputError
from lvas.models import DesignRound, Scene, SceneDesign, Script, SoundDesign, SoundItem, Verdict
from lvas.settings import AgentSettings

K = TypeVar("K", bound=Hashable)

# The fixed-window baseline's one prompt for every window (the paper's MMAudio/FoleyCrafter baseline)
GENERIC_PROMPT = "sound effects and ambience matching the video"


def baseline_design(script: Script, scene: Scene) -> SceneDesign:
    """The fixed-window baseline's design of one window: no agent, one foreground sound with
    :data:`GENERIC_PROMPT` spanning the window (video-to-audio with MMAudio), no label.

    Returns:
        A one-round, FINAL SceneDesign.
    """
    item = SoundItem(description=GENERIC_PROMPT, start_s=0.0, end_s=scene.duration_s)
    design = SoundDesign(reasoning="baseline fixed-window: no agents", audio=[item], background=[], volume=1.0)
    return SceneDesign(video_id=script.video_id, scene_index=scene.index,
                       rounds=[DesignRound(round=0, design=design, mapped=design, verdict=Verdict.FINAL,
                                           feedback="baseline")])


def lookup(design: SoundDesign, retrieve: Retrieve, excluded: Collection[str] = ()) -> dict[str, list[str]]:
    """Retrieved candidates for every item of ``design``: {description: [labels, best first]},
    without the ``excluded`` labels.

    Raises:
        AgentOutputError: ``retrieve`` returned something that is not ``{str: [str, ...]}``.
    """
    candidates: dict[str, list[str]] = {}
    for layer, texts in design_items(design).items():
        if not texts:
            continue
        found = retrieve(list(texts), layer)
        for text in texts:
            labels = found.get(text, []) if isinstance(found, dict) else None
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                raise AgentOutputError(f"retrieve({layer!r}) returned {type(labels).__name__} for {text!r}")
            candidates[text] = [x for x in labels if x not in excluded]
    return candidates


def design_refine(
    scene: Scene,
    script: Script,
    agents: Agents,
    retrieve: Retrieve,
    max_rounds: int,
    *,
    settings: AgentSettings | None = None,
    timing: SceneTiming | None = None,
    known: Collection[str] | None = None,
    excluded: Collection[str] = (),
) -> SceneDesign:
    """Design the sound of one scene, refining it against the knowledge base.

    Arguments:
        scene: the scene (its caption drives the design).
        script: the whole script (global description, neighbours) for context.
        agents: the roles; their ``calls`` receive the accounting.
        retrieve: ``(texts, layer) -> {text: [labels best first]}``, layer "event" or "ambience".
        max_rounds: rounds at most (>= 1). When the last round is still REVISE it is used anyway
            and keeps its verdict, so the record shows the Designer was not satisfied.
        settings, timing, known, excluded: as for :func:`design_refine_jobs`.

    Returns:
        SceneDesign with every round; ``.final`` is the last round's mapped design.

    Raises:
        ValueError: ``max_rounds`` < 1.
        AgentOutputError, BackendUnavailable: a role's call failed for good.
    """
    def by_layer(wanted: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return {layer: retrieve(texts, layer) for layer, texts in wanted.items()}

    result = design_refine_jobs({0: (scene, script, agents)}, by_layer, max_rounds, concurrency=1,
                                settings=settings, timing={0: timing} if timing else None,
                                known=known, excluded=excluded)[0]
    if isinstance(result, Exception):
        raise result
    return result


def design_refine_scenes(
    scenes: Sequence[Scene],
    script: Script,
    agents: Agents,
    retrieve: RetrieveLayers,
    max_rounds: int,
    concurrency: int = 8,
    *,
    settings: AgentSettings | None = None,
    timing: Mapping[int, SceneTiming] | None = None,
    known: Collection[str] | None = None,
    excluded: Collection[str] = (),
) -> dict[int, SceneDesign | Exception]:
    """Algorithm 2 for several scenes of one video in lockstep: :func:`design_refine_jobs` keyed by
    scene index."""
    return design_refine_jobs({sc.index: (sc, script, agents) for sc in scenes}, retrieve, max_rounds,
                              concurrency=concurrency, settings=settings, timing=timing, known=known,
                              excluded=excluded)


def design_refine_jobs(
    jobs: Mapping[K, tuple[Scene, Script, Agents]],
    retrieve: RetrieveLayers,
    max_rounds: int,
    concurrency: int = 8,
    *,
    settings: AgentSettings | None = None,
    timing: Mapping[K, SceneTiming] | None = None,
    known: Collection[str] | None = None,
    excluded: Collection[str] = (),
) -> dict[K, SceneDesign | Exception]:
    """Algorithm 2 for several scenes (of one video or several) in lockstep, one batched retrieval per round.

    Each scene goes through exactly the rounds of :func:`design_refine`; what changes is the
    schedule: in round r every scene still under revision is designed (the agents' calls run
    concurrently in threads: model calls wait on the network), then the texts of all of them are
    looked up in ONE ``retrieve`` call (both layers), then each is mapped and reviewed
    (concurrently). So a batch costs at most ``max_rounds`` retrievals, not that many per scene.

    Arguments:
        jobs: {key: (scene, its video's script, the agents for that video)}.
        concurrency: agent calls in flight at once.
        settings: the agents section: event limits, ``allow_speech``, ``allow_music`` (defaults
            when None).
        timing: per key, what was measured of the scene: the Designer gets it, and untimed
            items are placed by it; a key without one keeps untimed items spanning the scene.
        known: the knowledge base's labels (a label outside them is a problem sent back).
        excluded: labels never offered to the Synthesizer nor kept (speech and music unless allowed).

    Returns:
        {key: the scene's SceneDesign, or the exception that ended it}. One scene's failure
        (a model that stayed invalid, an endpoint down) never stops the others; a failed
        retrieval fails the scenes that needed it.
    """
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    rounds: dict[K, list[DesignRound]] = {k: [] for k in jobs}
    result: dict[K, SceneDesign | Exception] = {}
    rules = settings or AgentSettings()
    flags = {"allow_speech": rules.allow_speech, "allow_music": rules.allow_music}

    def designed(k: K) -> SoundDesign:
        sc, script, agents = jobs[k]
        prev = rounds[k][-1] if rounds[k] else None
        found = (timing or {}).get(k)
        design = enforce_design(agents.design(sc, script, prev, prev.feedback if prev else "", timing=found),
                                sc.caption, **flags)
        return place_items(design, found) if found is not None else design

    def mapped_and_reviewed(k: K, r: int, design: SoundDesign, found: dict[str, dict[str, list[str]]]) -> bool:
        sc, script, agents = jobs[k]
        candidates = lookup(design, lambda texts, layer: found[layer], excluded)
        mapped = enforce_design(agents.map_labels(design, candidates), sc.caption, **flags)
        problems = list(dict.fromkeys([*check_items(design, sc.duration_s, rules),
                                       *check_items(mapped, sc.duration_s, rules, known, excluded)]))
        mapped = fit_items(mapped, sc.duration_s, rules, excluded)
        draft = DesignRound(round=r, design=design, candidates=candidates, mapped=mapped)
        verdict, feedback = agents.review(sc, script, draft)
        if problems:  # a broken rule goes back to the Designer, whatever the review said
            reasons = "timeline rules broken: " + "; ".join(problems)
            feedback = f"{reasons}. {feedback}" if verdict == Verdict.REVISE and feedback else reasons
            verdict = Verdict.REVISE
        rounds[k].append(draft.model_copy(update={"verdict": verdict, "feedback": feedback}))
        return verdict == Verdict.FINAL

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for r in range(max_rounds):
            active = [k for k in rounds if k not in result]
            if not active:
                break
            designs: dict[K, SoundDesign] = {}
            for k, fut in [(k, pool.submit(designed, k)) for k in active]:
                try:
                    designs[k] = fut.result()
                except Exception as exc:  # recorded per scene; the others go on
                    result[k] = exc
            texts: dict[str, set[str]] = {}
            for d in designs.values():
                for layer, items in design_items(d).items():
                    texts.setdefault(layer, set()).update(items)
            try:
                wanted = {layer: sorted(t) for layer, t in texts.items() if t}
                found = retrieve(wanted) if wanted else {}
                for layer in wanted:
                    if not isinstance(found.get(layer), dict):
                        raise AgentOutputError(f"retrieve returned no {layer!r} results")
            except Exception as exc:
                for k in designs:
                    result[k] = exc
                continue
            futures = [(k, pool.submit(mapped_and_reviewed, k, r, d, found)) for k, d in designs.items()]
            for k, fut in futures:
                try:
                    if fut.result() or r == max_rounds - 1:
                        sc, script, _ = jobs[k]
                        result[k] = SceneDesign(video_id=script.video_id, scene_index=sc.index, rounds=rounds[k])
                except Exception as exc:
                    result[k] = exc
    return result
