"""design_refine (Algorithm 2): rounds, retrieval layers, review verdicts, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvas.agents.artifacts import load_designs, save_designs
from lvas.agents.design import design_refine
from lvas.agents.llm_agents import LLMAgents
from lvas.agents.offline import (
    CUE_FAST,
    CUE_MUTED,
    CUE_ROOM_TONE,
    CUE_SKY,
    CUE_VEGETATION,
    CUE_WIND,
    OfflineAgents,
    content_stems,
)
from lvas.errors import AgentOutputError
from lvas.models import Caption, Scene, Script, Verdict
from lvas.settings import AgentSettings
from tests.fake_llm_server import FakeLLMServer, as_reply, role_of, user_texts

LABELS = {
    "event": ["Dog bark", "Footsteps on gravel", "Car engine idle", "Bicycle chain", "Hoofbeats"],
    "ambience": ["Wind through trees", "Park ambience", "Rain on roof", "Light wind"],
}


# What an embedding search finds although no word is shared.
NEAREST = {"horse hooves": ["Hoofbeats", "Dog bark"], "cat meowing": ["Dog bark"]}


class KeywordRetrieve:
    """A tiny stand-in for the Chroma lookup: labels ranked by shared word stems, then by order
    (NEAREST stands for the semantic neighbours an embedding would find)."""

    def __init__(self) -> None:
        self.asked: list[tuple[tuple[str, ...], str]] = []

    def __call__(self, texts: list[str], layer: str) -> dict[str, list[str]]:
        self.asked.append((tuple(texts), layer))
        out = {}
        for t in texts:
            scored = sorted(LABELS[layer], key=lambda lab: -len(content_stems(t) & content_stems(lab)))
            out[t] = NEAREST.get(t, scored[:3])
        return out


def scene_script(caption: Caption) -> tuple[Scene, Script]:
    scene = Scene(index=3, start_s=6.0, end_s=10.0, shot_indices=[4, 5], caption=caption)
    script = Script(
        video_id="vid", global_description="g", shot_captions=[caption], decisions=[], scenes=[scene]
    )
    return scene, script


def test_unmapped_item_is_revised_then_final() -> None:
    # "dog barking" -> "Dog bark", "running footsteps" -> "Footsteps on gravel", "wind in grass" ->
    # "Light wind" (ties with "Wind through trees" on "wind", has fewer words of its own);
    # "horse hooves" shares no word with its nearest label: revised to it.
    scene, script = scene_script(Caption(entity="a dog and a horse", action="running on grass"))
    retrieve = KeywordRetrieve()
    result = design_refine(scene, script, OfflineAgents(), retrieve, max_rounds=3)
    assert [r.round for r in result.rounds] == [0, 1]
    first, second = result.rounds
    assert first.verdict == Verdict.REVISE and "'horse hooves' (nearest: 'Hoofbeats')" in first.feedback
    # four sounds over the whole scene: one more than may sound at once; the least important goes
    assert "4 events sound at once" in first.feedback
    assert {i.description: i.label for i in first.mapped.audio}["horse hooves"] is None
    assert second.verdict == Verdict.FINAL
    final = result.final
    assert [(i.description, i.label) for i in final.audio] == [
        ("dog barking", "Dog bark"),
        ("Hoofbeats", "Hoofbeats"),
    ]
    assert [(i.description, i.label) for i in final.background] == [("wind in grass", "Light wind")]
    layers = {layer for _, layer in retrieve.asked}
    assert layers == {"event", "ambience"}
    assert ("wind in grass",) in [t for t, layer in retrieve.asked if layer == "ambience"]
    assert result.video_id == "vid" and result.scene_index == 3


def test_revision_never_duplicates_a_label_in_use() -> None:
    scene, script = scene_script(Caption(entity="a dog and a cat"))
    result = design_refine(scene, script, OfflineAgents(), KeywordRetrieve(), max_rounds=3)
    assert [r.verdict for r in result.rounds] == [Verdict.REVISE, Verdict.FINAL]
    assert [(i.description, i.label) for i in result.final.audio] == [("dog barking", "Dog bark")]


def test_round_limit_keeps_the_last_design_and_its_verdict() -> None:
    scene, script = scene_script(Caption(entity="a horse"))
    result = design_refine(scene, script, OfflineAgents(), KeywordRetrieve(), max_rounds=1)
    (only,) = result.rounds
    assert only.verdict == Verdict.REVISE  # the Designer was not satisfied, and the record says so
    assert result.final.audio[0].description == "horse hooves" and result.final.audio[0].label is None


def test_silent_scene_designs_nothing_and_asks_nothing() -> None:
    scene, script = scene_script(Caption(summary="dim shot, mostly purple tones"))
    retrieve = KeywordRetrieve()
    result = design_refine(scene, script, OfflineAgents(), retrieve, max_rounds=3)
    assert len(result.rounds) == 1 and result.rounds[0].verdict == Verdict.FINAL
    assert result.final.audio == [] and result.final.background == [] and retrieve.asked == []


def test_measured_cue_sounds_map_to_labels_or_stay_free_text() -> None:
    # Sky + fast motion, no caption words: "light wind outdoors" maps to "Light wind"; the whoosh
    # has only unrelated neighbours and is kept as a description, not swapped for "Dog bark".
    scene, script = scene_script(Caption(summary=f"bright outdoor shot, {CUE_SKY}, fast motion"))
    retrieve = KeywordRetrieve()
    result = design_refine(scene, script, OfflineAgents(), retrieve, max_rounds=3)
    assert [r.verdict for r in result.rounds] == [Verdict.FINAL]
    assert [(i.description, i.label) for i in result.final.audio] == [(CUE_FAST, None)]
    assert [(i.description, i.label) for i in result.final.background] == [(CUE_WIND, "Light wind")]
    assert "measured-cue sounds kept as descriptions: " + CUE_FAST in result.rounds[0].feedback
    assert result.rounds[0].candidates[CUE_FAST]  # it had candidates: the exemption is what kept it


def test_revision_keeps_cue_sounds_while_fixing_named_ones() -> None:
    # "horse hooves" (named) is revised to its nearest label; the measured room tone beside it has
    # no fitting label here and survives the revision as free text.
    scene, script = scene_script(Caption(entity="a horse", summary=f"dim shot, {CUE_MUTED}"))
    result = design_refine(scene, script, OfflineAgents(), KeywordRetrieve(), max_rounds=3)
    assert [r.verdict for r in result.rounds] == [Verdict.REVISE, Verdict.FINAL]
    assert "horse hooves" in result.rounds[0].feedback and CUE_ROOM_TONE not in result.rounds[0].feedback
    assert [(i.description, i.label) for i in result.final.audio] == [("Hoofbeats", "Hoofbeats")]
    assert [(i.description, i.label) for i in result.final.background] == [(CUE_ROOM_TONE, None)]


def test_offline_design_loop_is_deterministic() -> None:
    scene, script = scene_script(Caption(summary=f"dim outdoor shot, {CUE_SKY}, {CUE_VEGETATION}, fast motion"))
    a = design_refine(scene, script, OfflineAgents(), KeywordRetrieve(), max_rounds=3)
    b = design_refine(scene, script, OfflineAgents(), KeywordRetrieve(), max_rounds=3)
    assert a == b and a.final.audio and a.final.background


def test_bad_retrieve_result_is_an_agent_output_error() -> None:
    scene, script = scene_script(Caption(entity="a dog"))
    with pytest.raises(AgentOutputError, match="retrieve"):
        design_refine(scene, script, OfflineAgents(), lambda texts, layer: {t: "Dog bark" for t in texts}, 2)
    with pytest.raises(ValueError, match="max_rounds"):
        design_refine(scene, script, OfflineAgents(), KeywordRetrieve(), 0)


def test_designs_round_trip_through_parquet(tmp_path: Path) -> None:
    designs = []
    for caption in (Caption(entity="a dog and a horse"), Caption(summary="rain in a city street")):
        scene, script = scene_script(caption)
        designs.append(design_refine(scene, script, OfflineAgents(), KeywordRetrieve(), max_rounds=3))
    designs[1] = designs[1].model_copy(update={"scene_index": 4})
    save_designs(tmp_path / "design.parquet", designs)
    assert load_designs(tmp_path / "design.parquet") == designs


def test_llm_loop_revises_with_feedback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LVAS_TEST_KEY", "k")
    reviews = iter([("revise", "add the bicycle chain"), ("final", "")])

    def responder(body: dict) -> object:
        role = role_of(body)
        if role == "design":
            revising = any("<<DATA review_feedback>>" in t for t in user_texts(body))
            audio = [{"description": "dog barking"}] + (
                [{"description": "bicycle chain", "primary": False}] if revising else []
            )
            return as_reply(
                {
                    "reasoning": "1. dog 2. park",
                    "audio": audio,
                    "background": [{"description": "park ambience"}],
                    "volume": 0.7,
                }
            )
        if role == "map":
            text = user_texts(body)[0]
            mapping = [
                {"description": "dog barking", "label": "Dog bark"},
                {"description": "park ambience", "label": "Park ambience"},
            ]
            if "bicycle chain" in text:
                mapping.append({"description": "bicycle chain", "label": "Bicycle chain"})
            return as_reply({"mapping": mapping})
        verdict, feedback = next(reviews)
        return as_reply({"verdict": verdict, "feedback": feedback})

    scene, script = scene_script(
        Caption(entity="a dog and a cyclist", summary="a dog chases a bike in a park")
    )
    with FakeLLMServer(responder=responder) as srv:
        settings = AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_KEY")
        agents = LLMAgents(settings)
        result = design_refine(scene, script, agents, KeywordRetrieve(), max_rounds=3)
    assert [r.verdict for r in result.rounds] == [Verdict.REVISE, Verdict.FINAL]
    assert result.rounds[0].feedback == "add the bicycle chain"
    revision_request = [b for b in srv.requests if role_of(b) == "design"][1]
    assert any('"add the bicycle chain"' in t for t in user_texts(revision_request))
    assert [(i.description, i.label) for i in result.final.audio] == [
        ("dog barking", "Dog bark"),
        ("bicycle chain", "Bicycle chain"),
    ]
    assert [c.role for c in agents.calls] == ["designer", "synthesizer", "designer"] * 2
    assert {c.model for c in agents.calls} == {"qwen-max", "qwen-plus"}


def test_scenes_in_lockstep_look_up_both_layers_in_one_call_per_round() -> None:
    """design_refine_scenes (what the design-refine subflow runs): the same designs as scene by
    scene, with one retrieval per round for every scene and both layers (one task run in the flow)."""
    from lvas.agents.design import design_refine_scenes

    captions = [Caption(entity="a dog and a horse", action="running on grass"), Caption(entity="a dog and a cat"),
                Caption(background="wind in the trees")]
    scenes = [Scene(index=i, start_s=2.0 * i, end_s=2.0 * i + 2, shot_indices=[i], caption=c)
              for i, c in enumerate(captions)]
    script = Script(video_id="vid", global_description="g", shot_captions=captions, decisions=[], scenes=scenes)
    keyword = KeywordRetrieve()
    rounds: list[dict[str, list[str]]] = []

    def per_layer(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return {layer: keyword(t, layer) for layer, t in texts.items()}

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        rounds.append(texts)
        return per_layer(texts)

    together = design_refine_scenes(scenes, script, OfflineAgents(), retrieve, max_rounds=3)
    alone = {sc.index: design_refine(sc, script, OfflineAgents(), KeywordRetrieve(), max_rounds=3) for sc in scenes}
    assert {i: d.rounds for i, d in together.items()} == {i: d.rounds for i, d in alone.items()}
    assert len(rounds) == max(len(d.rounds) for d in alone.values()) == 2
    assert set(rounds[0]) == {"event", "ambience"}
    assert "dog barking" in rounds[0]["event"] and "horse hooves" in rounds[0]["event"]

    def broken(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return {"event": per_layer(texts)["event"]}  # the ambience layer missing

    failed = design_refine_scenes(scenes, script, OfflineAgents(), broken, max_rounds=3)
    assert all(isinstance(r, AgentOutputError) and "'ambience'" in str(r) for r in failed.values())


def test_scenes_of_several_videos_share_each_rounds_lookup() -> None:
    """design_refine_jobs (a batch's design-refine subflow): scenes of two videos designed in one
    lockstep, each with its own script and agents, as they would be video by video."""
    from lvas.agents.design import design_refine_jobs, design_refine_scenes

    def script_of(vid: str, captions: list[Caption]) -> Script:
        scenes = [Scene(index=i, start_s=2.0 * i, end_s=2.0 * i + 2, shot_indices=[i], caption=c)
                  for i, c in enumerate(captions)]
        return Script(video_id=vid, global_description="g", shot_captions=captions, decisions=[], scenes=scenes)

    a = script_of("a", [Caption(entity="a dog and a horse", action="running on grass"),
                        Caption(background="wind in the trees")])
    b = script_of("b", [Caption(entity="a dog and a cat")])
    keyword = KeywordRetrieve()
    calls: list[dict[str, list[str]]] = []

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        calls.append(texts)
        return {layer: keyword(t, layer) for layer, t in texts.items()}

    agents = {"a": OfflineAgents(), "b": OfflineAgents()}
    jobs = {(s.video_id, sc.index): (sc, s, agents[s.video_id]) for s in (a, b) for sc in s.scenes}
    together = design_refine_jobs(jobs, retrieve, max_rounds=3)
    n_rounds = len(calls)
    alone = {(s.video_id, i): d for s in (a, b)
             for i, d in design_refine_scenes(s.scenes, s, OfflineAgents(), retrieve, max_rounds=3).items()}
    assert {k: d.rounds for k, d in together.items()} == {k: d.rounds for k, d in alone.items()}
    assert {(d.video_id, d.scene_index) for d in together.values()} == set(jobs)
    assert n_rounds == 2 < len(calls) - n_rounds  # one lookup per round for both videos; 2 each alone
    assert len(agents["a"].calls) > len(agents["b"].calls) > 0  # each video's calls go to its own agents
