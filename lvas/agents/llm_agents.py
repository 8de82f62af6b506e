"""The four roles as prompts to an OpenAI-compatible backend (vision model for the Scriptwriter,
text models for the others). Answers are validated against ``lvas.agents.schemas`` and then
checked again in code: labels must come from the retrieved candidates, designs obey
``enforce_design``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from lvas.agents import prompts
from lvas.agents.base import ShotView, enforce_design
from lvas.agents.events import SceneTiming
from lvas.agents.schemas import (
    CaptionAnswer,
    DesignAnswer,
    GlobalAnswer,
    MappingAnswer,
    MergeAnswer,
    ReviewAnswer,
)
from lvas.backends.llm import OpenAIBackend, user_message
from lvas.models import (
    Caption,
    DesignRound,
    LLMCall,
    MergeDecision,
    Scene,
    Script,
    SoundDesign,
    SoundItem,
    Verdict,
)
from lvas.settings import AgentSettings

# The most motion onsets (and, apart, segments of sustained motion) one Designer prompt carries.
MAX_MEASURED_TIMES = 20


def _spread(items: Sequence, k: int) -> list:
    """At most ``k`` items evenly spread over ``items`` (first and last included)."""
    if len(items) <= k:
        return list(items)
    if k == 1:
        return [items[len(items) // 2]]
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def measured_motion(timing: SceneTiming | None, limit: int = MAX_MEASURED_TIMES) -> dict[str, list]:
    """What was measured of a scene's motion, for the Designer's prompt: motion onsets (shot cuts
    included) and segments of sustained motion, in seconds from the scene start, rounded to 0.01 s,
    at most ``limit`` of each (evenly spread over the scene when there are more).

    Returns:
        ``{"onsets_s": [...], "sustained_motion_s": [[start, end], ...]}`` without the empty
        parts; empty when nothing was measured.
    """
    if timing is None:
        return {}
    onsets = [round(t, 2) for t in _spread(sorted(timing.onsets), limit)]
    active = [[round(a, 2), round(b, 2)] for a, b in _spread(sorted(timing.active), limit)]
    return {k: v for k, v in (("onsets_s", onsets), ("sustained_motion_s", active)) if v}


def _caption_dict(c: Caption) -> dict[str, str]:
    return c.model_dump()


def _design_dict(d: SoundDesign) -> dict:
    return d.model_dump(mode="json")


class LLMAgents:
    """LVAS-Agent roles backed by chat models.

    Arguments:
        settings: the ``agents`` section (model names, max_keyframes_per_call).
        backend: the chat backend (built from ``settings`` when omitted).
    """

    def __init__(self, settings: AgentSettings, backend: OpenAIBackend | None = None) -> None:
        self.settings = settings
        self.backend = backend or OpenAIBackend(settings)

    @property
    def calls(self) -> list[LLMCall]:
        return self.backend.calls

    # ---- Scriptwriter

    def describe_video(self, keyframes: Sequence[tuple[float, Path]], duration_s: float) -> str:
        sample = _spread(list(keyframes), self.settings.max_keyframes_per_call)
        times = ", ".join(f"image {i + 1} at {t:.1f}s" for i, (t, _) in enumerate(sample))
        text = f"The video lasts {duration_s:.1f}s. Keyframes in order: {times}."
        messages = [
            prompts.system(prompts.SCRIPTWRITER_GLOBAL, GlobalAnswer),
            user_message(text, [p for _, p in sample]),
        ]
        ans = self.backend.complete("scriptwriter", self.settings.vision_model, messages, GlobalAnswer,
                                    context={"duration_s": duration_s})
        lines = [ans.description.strip()]
        lines += [f"[{e.start_s:.1f}-{e.end_s:.1f}s] {e.description.strip()}" for e in ans.timeline]
        return "\n".join(lines)

    def caption_shot(self, shot: ShotView, global_description: str) -> Caption:
        frames = _spread(list(shot.keyframes), self.settings.max_keyframes_per_call)
        text = (
            f"Shot {shot.index}, {shot.start_s:.2f}s to {shot.end_s:.2f}s, "
            f"{len(frames)} keyframe(s) attached.\n"
            + prompts.data("global_description", global_description)
        )
        messages = [prompts.system(prompts.SCRIPTWRITER_SHOT, CaptionAnswer), user_message(text, frames)]
        ans = self.backend.complete("scriptwriter", self.settings.vision_model, messages, CaptionAnswer)
        return ans.to_caption()

    # ---- Storyboarder

    def decide_merge(
        self,
        scene_shots: Sequence[ShotView],
        scene_caption: Caption,
        shot: ShotView,
        caption: Caption,
        global_description: str,
    ) -> MergeDecision:
        text = "\n".join(
            [
                f"Running scene: {scene_shots[0].start_s:.2f}s to {scene_shots[-1].end_s:.2f}s "
                f"({len(scene_shots)} shot(s)). "
                f"New shot {shot.index}: {shot.start_s:.2f}s to {shot.end_s:.2f}s.",
                prompts.data("global_description", global_description),
                prompts.data("running_scene_caption", _caption_dict(scene_caption)),
                prompts.data("new_shot_caption", _caption_dict(caption)),
            ]
        )
        messages = [prompts.system(prompts.STORYBOARDER_MERGE, MergeAnswer), user_message(text)]
        ans = self.backend.complete("storyboarder", self.settings.model, messages, MergeAnswer)
        return MergeDecision(
            shot_index=shot.index, merge=ans.merge, reason=ans.reason, refined=ans.caption.to_caption()
        )

    # ---- Designer

    def design(
        self, scene: Scene, script: Script, previous: DesignRound | None = None, feedback: str = "",
        timing: SceneTiming | None = None,
    ) -> SoundDesign:
        s = self.settings
        parts = [
            f"Scene {scene.index}: {scene.start_s:.2f}s to {scene.end_s:.2f}s of the video; event times are "
            f"seconds from the scene start, 0 to {scene.duration_s:.2f}. At most {s.max_concurrent_events} "
            f"events at once, each at least {s.min_event_s:g}s.",
            prompts.data("global_description", script.global_description),
            prompts.data("scene_caption", _caption_dict(scene.caption)),
        ]
        measured = measured_motion(timing)
        if measured:
            parts.append(prompts.data("measured_motion", measured))
        if previous is not None:
            parts += [
                "Revise your previous design following the review feedback.",
                prompts.data("previous_design", _design_dict(previous.mapped or previous.design)),
                prompts.data("retrieved_candidates", previous.candidates),
                prompts.data("review_feedback", feedback),
            ]
        role = prompts.DESIGNER if s.cot else prompts.DESIGNER_NO_COT
        messages = [prompts.system(role, DesignAnswer), user_message("\n".join(parts))]
        ans = self.backend.complete("designer", self.settings.model, messages, DesignAnswer)
        design = SoundDesign(
            reasoning=ans.reasoning,
            audio=[SoundItem(**a.model_dump()) for a in ans.audio],
            background=[SoundItem(**b.model_dump()) for b in ans.background],
            volume=ans.volume,
        )
        return enforce_design(design, scene.caption, allow_speech=s.allow_speech, allow_music=s.allow_music)

    # ---- Synthesizer

    def map_labels(self, design: SoundDesign, candidates: Mapping[str, Sequence[str]]) -> SoundDesign:
        items = [i.description for i in (*design.audio, *design.background)]
        if not items:
            return design
        table = [{"description": d, "candidates": list(candidates.get(d, []))} for d in items]
        messages = [
            prompts.system(prompts.SYNTHESIZER, MappingAnswer),
            user_message(prompts.data("items_with_candidates", table)),
        ]
        ans = self.backend.complete("synthesizer", self.settings.retrieval_model, messages, MappingAnswer)
        chosen = {c.description: c.label for c in ans.mapping}
        return apply_labels(design, candidates, chosen)

    def review(self, scene: Scene, script: Script, rnd: DesignRound) -> tuple[Verdict, str]:
        text = "\n".join(
            [
                prompts.data("scene_caption", _caption_dict(scene.caption)),
                prompts.data("mapped_design", _design_dict(rnd.mapped or rnd.design)),
                prompts.data("retrieved_candidates", rnd.candidates),
            ]
        )
        messages = [prompts.system(prompts.REVIEWER, ReviewAnswer), user_message(text)]
        ans = self.backend.complete("designer", self.settings.model, messages, ReviewAnswer)
        return Verdict(ans.verdict), ans.feedback


def apply_labels(
    design: SoundDesign, candidates: Mapping[str, Sequence[str]], chosen: Mapping[str, str | None]
) -> SoundDesign:
    """Set each item's label from ``chosen``, accepting only labels among that item's candidates.

    A label a model made up (not retrieved for that item) is discarded: the item keeps its
    description and no label, exactly as when nothing fits.
    """

    def fix(item: SoundItem) -> SoundItem:
        label = chosen.get(item.description)
        if label not in set(candidates.get(item.description, ())):
            label = None
        return item.model_copy(update={"label": label})

    return design.model_copy(
        update={"audio": [fix(i) for i in design.audio], "background": [fix(i) for i in design.background]}
    )
