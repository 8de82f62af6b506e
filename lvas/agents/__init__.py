"""The LVAS-Agent roles (Scriptwriter, Storyboarder, Designer, Synthesizer) and their two loops.

Entry points::

    agents = get_agents(settings.agents)                  # "offline" (default) or "openai"
    script = write_script(storyboard, video_dir, agents, sidecar)
    design = design_refine(scene, script, agents, retrieve, settings.agents.max_rounds)
    calls = drain_calls(agents)                           # LLMCall records since the last drain

``PROMPT_VERSION`` belongs in the cache keys of the script and design stages.
"""

from __future__ import annotations

from lvas import registry
from lvas.agents.base import Agents, Retrieve, ShotView, drain_calls, enforce_design
from lvas.agents.prompts import PROMPT_VERSION
from lvas.errors import BackendUnavailable
from lvas.settings import AgentSettings


def offline_agents(settings: AgentSettings) -> Agents:
    from lvas.agents.offline import OfflineAgents

    return OfflineAgents(settings)


def openai_agents(settings: AgentSettings) -> Agents:
    from lvas.agents.llm_agents import LLMAgents

    return LLMAgents(settings)


def get_agents(settings: AgentSettings, *, layout: object = None, video_id: str | None = None) -> Agents:
    """Build the agents named by ``settings.backend``.

    Arguments:
        settings: the ``agents`` section.
        layout, video_id: the caller's context. Accepted so callers can pass it uniformly; the
            agents do not need it today (``write_script`` finds frame statistics from the video
            folder), and a fresh instance per (video, stage) keeps ``calls`` per unit of work.

    Returns:
        An object implementing :class:`Agents` with an empty ``calls`` list.

    Raises:
        BackendUnavailable: unknown backend name, or the backend is not configured (e.g. "openai"
            without ``base_url`` or without the key env var).
    """
    try:
        backend = registry.choose(registry.AGENTS, settings.backend, "agents")
    except ValueError as exc:
        raise BackendUnavailable(str(exc)) from None
    return backend.load()(settings)


def agents_version(settings: AgentSettings) -> str:
    """What the script/design cache keys should include: prompt version + backend + models."""
    if settings.backend == "offline":
        from lvas.agents.offline import OFFLINE_MODEL

        return f"{PROMPT_VERSION}/offline/{OFFLINE_MODEL}"
    models = f"{settings.model}/{settings.vision_model}/{settings.retrieval_model}"
    return f"{PROMPT_VERSION}/{settings.backend}/{models}"


__all__ = [
    "PROMPT_VERSION",
    "Agents",
    "Retrieve",
    "ShotView",
    "agents_version",
    "drain_calls",
    "enforce_design",
    "get_agents",
]
