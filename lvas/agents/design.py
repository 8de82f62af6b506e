"""The design-refine loop (LVAS-Agent Algorithm 2) for one scene.

Round r: the Designer writes a design (initial, or a revision following the last feedback) →
each item is looked up in the knowledge base through ``retrieve`` (foreground items as "event",
background items as "ambience") → the Synthesizer maps every item onto one of its retrieved
labels (or keeps the description when nothing fits) → the Designer reviews: FINAL ends the
loop, REVISE with feedback starts round r+1. At most ``max_rounds`` rounds; all are kept.

``retrieve`` is injected (the lead passes a Prefect task over Chroma; tests pass a dict), so this
module imports neither the knowledge base nor Prefect.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from lvas.agents.base import Agents, Retrieve, RetrieveLayers, design_items, enforce_design
from lvas.errors import AgentOutputError
from lvas.models import DesignRound, Scene, SceneDesign, Script, SoundDesign, Verdict

K = TypeVar("K", bound=Hashable)


def lookup(design: SoundDesign, retrieve: Retrieve) -> dict[str, list[str]]:
    """Retrieved candidates for every item of ``design``: {description: [labels, best first]}.

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
            candidates[text] = list(labels)
    return candidates


def design_refine(
    scene: Scene, script: Script, agents: Agents, retrieve: Retrieve, max_rounds: int
) -> SceneDesign:
    """Design the sound of one scene, refining it against the knowledge base.

    Arguments:
        scene: the scene (its caption drives the design).
        script: the whole script (global description, neighbours) for context.
        agents: the roles; their ``calls`` receive the accounting.
        retrieve: ``(texts, layer) -> {text: [labels best first]}``, layer "event" or "ambience".
        max_rounds: rounds at most (>= 1). When the last round is still REVISE it is used anyway
            and keeps its verdict, so the record shows the Designer was not satisfied.

    Returns:
        SceneDesign with every round; ``.final`` is the last round's mapped design.

    Raises:
        ValueError: ``max_rounds`` < 1.
        AgentOutputError, BackendUnavailable: a role's call failed for good.
    """
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    rounds: list[DesignRound] = []
    previous: DesignRound | None = None
    for r in range(max_rounds):
        design = agents.design(scene, script, previous, previous.feedback if previous else "")
        design = enforce_design(design, scene.caption)  # whatever the implementation, the rules hold
        candidates = lookup(design, retrieve)
        mapped = enforce_design(agents.map_labels(design, candidates), scene.caption)
        draft = DesignRound(round=r, design=design, candidates=candidates, mapped=mapped)
        verdict, feedback = agents.review(scene, script, draft)
        previous = draft.model_copy(update={"verdict": verdict, "feedback": feedback})
        rounds.append(previous)
        if verdict == Verdict.FINAL:
            break
    return SceneDesign(video_id=script.video_id, scene_index=scene.index, rounds=rounds)


def design_refine_scenes(
    scenes: Sequence[Scene],
    script: Script,
    agents: Agents,
    retrieve: RetrieveLayers,
    max_rounds: int,
    concurrency: int = 8,
) -> dict[int, SceneDesign | Exception]:
    """Algorithm 2 for several scenes of one video in lockstep: :func:`design_refine_jobs` keyed by
    scene index."""
    return design_refine_jobs({sc.index: (sc, script, agents) for sc in scenes}, retrieve, max_rounds,
                              concurrency=concurrency)


def design_refine_jobs(
    jobs: Mapping[K, tuple[Scene, Script, Agents]],
    retrieve: RetrieveLayers,
    max_rounds: int,
    concurrency: int = 8,
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

    Returns:
        {key: the scene's SceneDesign, or the exception that ended it}. One scene's failure
        (a model that stayed invalid, an endpoint down) never stops the others; a failed
        retrieval fails the scenes that needed it.
    """
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    rounds: dict[K, list[DesignRound]] = {k: [] for k in jobs}
    result: dict[K, SceneDesign | Exception] = {}

    def designed(k: K) -> SoundDesign:
        sc, script, agents = jobs[k]
        prev = rounds[k][-1] if rounds[k] else None
        return enforce_design(agents.design(sc, script, prev, prev.feedback if prev else ""), sc.caption)

    def mapped_and_reviewed(k: K, r: int, design: SoundDesign, found: dict[str, dict[str, list[str]]]) -> bool:
        sc, script, agents = jobs[k]
        candidates = lookup(design, lambda texts, layer: found[layer])
        mapped = enforce_design(agents.map_labels(design, candidates), sc.caption)
        draft = DesignRound(round=r, design=design, candidates=candidates, mapped=mapped)
        verdict, feedback = agents.review(sc, script, draft)
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
