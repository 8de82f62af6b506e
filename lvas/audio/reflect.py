"""The reflection loop (AVAgent): score a rendered scene, plan edits, keep an edit only if it scores better.

A scene's *take* is the list of its events' waveforms; :func:`reflect` scores the take as the scene
sounds (``assemble`` places the events), and while the best score is under the threshold asks a
planner for one or two :class:`~lvas.audio.actions.Action` and applies them **to the original
take** (never to the last result), keeping the result only when its overall score is higher.
At most ``max_cycles`` cycles; every cycle is recorded (:class:`Cycle`).

Planners: :func:`offline_plan` (a documented rule from which score is low) and :func:`llm_plan`
(any object with the OpenAI-compatible backend's ``complete``; its answer is validated as an
:class:`~lvas.audio.actions.ActionPlan`, and a refused answer is recorded with the reason while
the offline rule plans that cycle).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lvas.audio.actions import ACTIONS, RENDERING, Action, ActionPlan, apply_action
from lvas.audio.scores import Scores

Take = list[np.ndarray]
Planner = Callable[[Scores, int, "list[Cycle]"], "tuple[list[Action], str]"]

IMPROVEMENT = 1e-4
"""An edit is kept when the overall score rises by more than this."""

DENOISERS = ("spectral_gate", "spectral_subtraction", "wiener", "wavelet_denoise")


@dataclass(frozen=True)
class Cycle:
    """One reflection cycle.

    Attributes:
        cycle: 1, 2, ...
        before: the best scores when the cycle started.
        after: the scores of the edited take (None when the edit failed).
        actions: what the planner chose.
        kept: the edit scored higher and replaced the best take.
        planner: who planned ("offline", "llm", or "offline (llm refused: reason)").
        note: why the planner chose it, or the error of a failed edit.
    """

    cycle: int
    before: Scores
    after: Scores | None
    actions: tuple[Action, ...]
    kept: bool
    planner: str
    note: str = ""


@dataclass(frozen=True)
class Reflection:
    """The loop's result: the best take, its scores, the first scores and every cycle."""

    take: Take
    original: Scores
    best: Scores
    cycles: list[Cycle]
    rendered: Action | None = None
    """the rendering action (``rerender``, ``next_label``) the best take came from, if any"""

    @property
    def edited(self) -> bool:
        """A cycle's edit was kept."""
        return any(c.kept for c in self.cycles)


class SceneLoop:
    """The loop of one scene, a cycle at a time (:meth:`step`), so that the scenes of a batch can
    go in lockstep (:func:`run_lockstep`): every scene's cycle k before any scene's cycle k + 1.

    Arguments:
        original: the events' rendered waveforms, as rendered (never modified).
        score: scores a take (places the events and scores the scene).
        plan: the planner: ``(best scores, cycle, cycles so far) -> (actions, reason)``.
        threshold: stop once the best overall score reaches this.
        max_cycles: cycles at most.
        sample_rate: of the waveforms.
        rerender: ``action -> take`` rendering the events again for a ``rerender`` (seeds moved)
            or ``next_label`` action; without it such an action fails its cycle.

    Raises:
        ScoringError, ScorerUnavailable: (on construction) the original cannot be scored.
    """

    def __init__(self, original: Take, score: Callable[[Take], Scores], plan: Planner, threshold: float,
                 max_cycles: int, sample_rate: int, rerender: Callable[[Action], Take] | None = None) -> None:
        self.original, self.score, self.plan = original, score, plan
        self.threshold, self.max_cycles, self.sample_rate, self.rerender = threshold, max_cycles, sample_rate, rerender
        self.first = score(original)
        self.best_take, self.best, self.best_render = original, self.first, None
        self.cycles: list[Cycle] = []

    @property
    def done(self) -> bool:
        """At or above the threshold, or out of cycles."""
        return self.best.overall >= self.threshold or len(self.cycles) >= self.max_cycles

    def step(self) -> Cycle:
        """One cycle: plan, edit the original, score, keep if better. Returns its record."""
        n = len(self.cycles) + 1
        actions, reason = self.plan(self.best, n, self.cycles)
        planner, _, note = reason.partition("|")
        try:
            take, rendered = self.original, None
            for action in actions:
                if action.name in RENDERING:
                    if self.rerender is None:
                        raise ValueError(f"{action.name} is not available here")
                    rendered = action
                    take = self.rerender(action)
                else:
                    take = [apply_action(x, self.sample_rate, action) for x in take]
            after = self.score(take)
        except Exception as exc:
            cycle = Cycle(n, self.best, None, tuple(actions), False, planner, f"{note} | failed: {exc}".strip(" |"))
            self.cycles.append(cycle)
            return cycle
        kept = after.overall > self.best.overall + IMPROVEMENT
        cycle = Cycle(n, self.best, after, tuple(actions), kept, planner, note)
        self.cycles.append(cycle)
        if kept:
            self.best_take, self.best, self.best_render = take, after, rendered
        return cycle

    def result(self) -> Reflection:
        """The best take so far and every cycle."""
        return Reflection(self.best_take, self.first, self.best, list(self.cycles), self.best_render)


def run_lockstep(loops: Sequence[SceneLoop]) -> list[Reflection]:
    """Run several scenes' loops in lockstep: cycle k of every scene still going, then cycle k + 1.

    Returns:
        Each loop's result, in order.
    """
    while any(not loop.done for loop in loops):
        for loop in loops:
            if not loop.done:
                loop.step()
    return [loop.result() for loop in loops]


def reflect(original: Take, score: Callable[[Take], Scores], plan: Planner, threshold: float, max_cycles: int,
            sample_rate: int, rerender: Callable[[Action], Take] | None = None) -> Reflection:
    """Run the loop on one scene (arguments as :class:`SceneLoop`).

    Returns:
        The best take (the original when nothing was kept) and the record of every cycle.
    """
    return run_lockstep([SceneLoop(original, score, plan, threshold, max_cycles, sample_rate, rerender)])[0]


# --------------------------------------------------------------------------- planners


def offline_plan(scores: Scores, cycle: int, history: Sequence[Cycle]) -> tuple[list[Action], str]:
    """The offline planner: a remedy for the lowest score (and the second lowest when it is low too).

    The rule, by score (``k`` = cycle - 1 picks the k-th alternative, so a cycle whose edit was
    not kept tries something else):

    * ``level``: clipping or louder than -6 LUFS -> volume down 6 dB; quieter than -40 LUFS ->
      volume up to about -23 LUFS (at most 24 dB); otherwise a loudness range that is too wide ->
      spectral gating.
    * ``leak`` (a tone, a voice or music where effects were asked for), or ImageBind's
      ``av_similarity``: the content is wrong -> rerender with another seed, then the next label
      of the design's candidates, in turn.
    * Synchformer's ``desync`` (the sound is offset from the picture) -> rerender.
    * A rerender's seed offset is the cycle's number, so no two cycles render the same take.
    * ``coverage``: silence under motion -> fill blanks (shorter gaps each cycle); a loud event
      on a still picture -> rerender.
    * ``sync``: a weak onset match -> a denoiser (gating, subtraction, Wiener, wavelet in turn)
      to clear the onsets out of the noise; a clear match at a lag -> rerender.

    Arguments:
        scores: the best scores so far.
        cycle: 1, 2, ...
        history: the cycles so far (not read by this rule; the LLM planner reads it).

    Returns:
        One or two actions and ``"offline|<reason>"``.
    """
    del history
    k = cycle - 1
    d = scores.details
    deficits = sorted(((1.0 - v if name not in ("leak", "desync") else v), name) for name, v in scores.values.items())
    deficits.reverse()
    actions: list[Action] = []
    reasons: list[str] = []
    unruled: list[str] = []
    for deficit, name in deficits:
        if deficit <= 0.05 or len(actions) == 2:
            break
        action = _remedy(name, d, k)
        if action is None:
            unruled.append(f"{name} {scores.values[name]:.2f}")
        elif all(a.name != action.name for a in actions):
            actions.append(action)
            reasons.append(f"{name} {scores.values[name]:.2f}")
    if not actions:
        actions = [Action(name=DENOISERS[k % len(DENOISERS)])]
        reasons = [f"no rule for {', '.join(unruled)}" if unruled else "no single score is low"]
    if any(a.name in RENDERING for a in actions):  # a new render starts over: edit it alone
        actions = [a for a in actions if a.name in RENDERING][:1]
    return actions, "offline|" + "; ".join(reasons)


def _remedy(name: str, d: Any, k: int) -> Action | None:
    if name == "level":
        loud = d.get("loudness_lufs", -23.0)
        if d.get("clip_frac", 0.0) > 0 or loud > -6.0:
            return Action(name="volume", params={"gain_db": -6.0})
        if loud < -40.0:
            return Action(name="volume", params={"gain_db": float(min(24.0, -23.0 - loud))})
        return Action(name="spectral_gate")
    if name in ("leak", "av_similarity"):
        if k % 2:
            return Action(name="next_label", params={"step": min(5, (k + 1) // 2)})
        return Action(name="rerender", params={"offset": k + 1})
    if name == "coverage":
        if d.get("silent_motion_frac", 0.0) >= d.get("loud_still_frac", 0.0):
            return Action(name="fill_blanks", params={"min_gap_s": max(0.05, 0.3 / (k + 1))})
        return Action(name="rerender", params={"offset": k + 1})
    if name == "sync":
        if d.get("lag_strength", 0.0) >= 0.5 and abs(d.get("lag_s", 0.0)) > 0.1:
            return Action(name="rerender", params={"offset": k + 1})
        return Action(name=DENOISERS[k % len(DENOISERS)])
    if name == "desync":
        return Action(name="rerender", params={"offset": k + 1})
    return None


class CompletionBackend(Protocol):
    """What :func:`llm_plan` needs of an LLM backend (``lvas.backends.llm.OpenAIBackend`` has it)."""

    def complete(self, role: str, model: str, messages: list[Any], schema: type[ActionPlan],
                 context: dict[str, Any] | None = None) -> ActionPlan: ...


PLANNER_PROMPT = """You repair the soundtrack of one video scene. Scores are in [0, 1]; higher is better except
'leak' (a voice or music where sound effects were asked for), where lower is better.
Current scores: {scores}
Measured details: {details}
Cycles so far (each edit is applied to the ORIGINAL render, and kept only if the overall score rose):
{history}
Actions and their parameters as [lowest, highest, default]:
{actions}
Choose one or two actions that address the lowest scores. Answer with JSON only:
{{"actions": [{{"name": "...", "params": {{"...": 0.0}}}}], "reason": "..."}}"""


def llm_plan(backend: CompletionBackend, model: str, make_message: Callable[[str], Any]) -> Planner:
    """A planner that asks an LLM, validating its answer as an :class:`ActionPlan`.

    Arguments:
        backend: an OpenAI-compatible backend (``complete(role, model, messages, schema)``).
        model: the model to ask.
        make_message: builds a user message from text (``lvas.backends.llm.user_message``).

    Returns:
        The planner. An answer the backend cannot validate (an unknown action, a value out of
        range, not JSON) is refused: that cycle is planned by :func:`offline_plan` and its
        planner column says why.
    """

    def plan(scores: Scores, cycle: int, history: list[Cycle]) -> tuple[list[Action], str]:
        prompt = PLANNER_PROMPT.format(
            scores=json.dumps({k: round(v, 3) for k, v in scores.values.items()}),
            details=json.dumps({k: round(float(v), 3) for k, v in scores.details.items()}),
            history="\n".join(f"- cycle {c.cycle}: {', '.join(a.label() for a in c.actions)} -> "
                              f"{'kept' if c.kept else 'not kept'}" for c in history) or "- none",
            actions="\n".join(f"- {name}: " + ", ".join(f"{p} {list(r)}" for p, r in spec.items())
                              for name, spec in ACTIONS.items()))
        try:
            answer = backend.complete("reflector", model, [make_message(prompt)], ActionPlan)
        except Exception as exc:
            actions, reason = offline_plan(scores, cycle, history)
            return actions, f"offline (llm refused: {str(exc)[:600]})|{reason.partition('|')[2]}"
        return list(answer.actions), f"llm|{answer.reason[:300]}"

    return plan


def cycle_rows(video_id: str, scene: int, result: Reflection, why_none: str = "",
               extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of ``reflect.parquet`` for one scene: one per cycle (one row ``cycle`` 0 when none ran).

    Arguments:
        video_id: the video.
        scene: the scene index.
        result: the loop's result.
        why_none: the note of the row written when no cycle ran (default: above the threshold).
        extra: more columns for every row (what was edited: the scene, or a bed and its scenes).

    Returns:
        Rows with scores before and after, the actions and their parameters (JSON), kept, planner, note.
    """
    base = {"video_id": video_id, "scene": scene, **(extra or {})}
    if not result.cycles:
        return [{**base, "cycle": 0, "actions": "[]", "kept": False, "planner": "",
                 "note": why_none or "at or above the threshold",
                 "before_overall": round(result.original.overall, 6), "after_overall": float("nan")}]
    rows = []
    for c in result.cycles:
        rows.append({**base, "cycle": c.cycle, "kept": c.kept, "planner": c.planner, "note": c.note,
                     "actions": json.dumps([{"name": a.name, "params": a.params} for a in c.actions]),
                     "before_overall": round(c.before.overall, 6),
                     "after_overall": round(c.after.overall, 6) if c.after else float("nan"),
                     **{f"before_{k}": round(v, 6) for k, v in c.before.values.items()},
                     **({f"after_{k}": round(v, 6) for k, v in c.after.values.items()} if c.after else {})})
    return rows
