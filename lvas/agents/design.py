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

from lvas.agents.base import Agents, Retrieve, design_items, enforce_design
from lvas.errors import AgentOutputError
from lvas.models import DesignRound, Scene, SceneDesign, Script, SoundDesign, Verdict


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
