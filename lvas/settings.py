"""All configuration, one nested model per stage.

Values come from (highest first) explicit arguments / CLI flags, environment variables with the
prefix ``LVAS_`` and ``__`` as the nesting separator (``LVAS_AGENTS__BASE_URL=...``), then the
defaults below. The defaults are the embedded, offline configuration: no network, no GPU, no key.

Each stage's cache key hashes only that stage's section (plus what it depends on), so changing
e.g. ``storyboard.min_shot_s`` recomputes the storyboard and what follows, nothing before it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lvas import registry


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def fingerprint(self) -> str:
        """A short stable hash of this section's values (part of cache keys)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class StoryboardSettings(Section):
    analysis_width: int = Field(80, ge=16, description="frames are decoded at this width for analysis")
    threshold: float = Field(0.0, ge=0.0, description="fixed HSV-distance threshold; 0 = adapt to the video")
    adaptive_k: float = Field(6.0, gt=0, description="adaptive threshold: median + k * MAD of the distance")
    min_threshold: float = Field(0.07, ge=0, description="floor of the adaptive threshold")
    min_shot_s: float = Field(0.25, ge=0, description="shorter shots are merged into a neighbour")
    flash_window_s: float = Field(0.25, ge=0, description="a change that reverts within this is a flash")
    keyframes_min: int = Field(1, ge=1)
    keyframes_max: int = Field(4, ge=1)
    keyframe_every_s: float = Field(2.5, gt=0, description="one more keyframe per this many seconds of shot")
    keyframe_width: int = Field(384, ge=16, description="width of saved keyframe JPEGs")


class AgentSettings(Section):
    backend: str = Field("offline", description="one of lvas.registry.AGENTS")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the env var that holds the key")
    model: str = Field("qwen-max", description="model for the Designer, Synthesizer and Storyboarder")
    vision_model: str = Field("Qwen2.5-VL-7B-Instruct", description="model that sees keyframes")
    retrieval_model: str = Field("qwen-plus", description="model that maps designs onto labels")
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0)
    retry_backoff_s: float = Field(1.0, ge=0, description="first retry wait; doubles on each retry")
    max_rounds: int = Field(3, ge=1, description="design-refine rounds at most")
    retrieve_k: int = Field(5, ge=1)
    temperature: float = Field(0.2, ge=0)
    max_keyframes_per_call: int = Field(8, ge=1)
    concurrency: int = Field(8, ge=1, description="agent calls in flight at once for the scenes of a video")
    max_concurrent_events: int = Field(3, ge=1, description="timed events sounding at once at most")
    min_event_s: float = Field(0.1, gt=0, description="shortest timed event")
    allow_speech: bool = Field(False, description="let speech and singing (the voice family) reach renders")
    allow_music: bool = Field(False, description="let music and musical instruments reach renders")

    # Baselines and ablations (LVAS-Agent Tables 1-2): what the agents leave out
    baseline: Literal["", "fixed-window"] = Field("", description="fixed-window: no agents, fixed windows each "
                                                  "rendered from a generic prompt")
    structure: bool = Field(True, description="false: no shot/scene structure, the video cut into fixed windows")
    window_s: float = Field(10.0, gt=0, description="window length of the baseline and of structure=false")
    cot: bool = Field(True, description="false: the Designer without step-by-step reasoning")
    rag: bool = Field(True, description="false: labels chosen from the whole label list, no retrieval")

    max_tokens: int = Field(4096, ge=16, description="most tokens a model may answer one request with")
    max_response_bytes: int = Field(4_000_000, ge=4096, description="a longer response body is refused unread")

    @field_serializer("base_url", when_used="json")
    def _no_credentials(self, url: str | None) -> str | None:
        return redact_url(url)

    @field_validator("backend")
    @classmethod
    def _known(cls, name: str) -> str:
        return registry.choose(registry.AGENTS, name, "agents").name


class KBSettings(Section):
    chroma_url: str | None = Field(None, description="Chroma server (http://host:port); None = local store")
    path: str | None = Field(None, description="local store folder; None = <out>/kb")
    collection: str = "lvas_labels"

    @field_serializer("chroma_url", when_used="json")
    def _no_credentials(self, url: str | None) -> str | None:
        return redact_url(url)


class SynthSettings(Section):
    backend: str = Field("procedural", description="one of lvas.registry.SYNTHS")
    simulated_latency_s: float = Field(0.5, ge=0, description="simulated-gpu: GPU time of a model call of one window")
    sample_rate: int = Field(44100, description="44100 or 16000")
    channels: int = Field(2, ge=1, le=2)
    weights_dir: str | None = Field(None, description="MMAudio weights folder (no download at run time)")
    variant: Literal["large_44k_v2", "small_16k", "small_44k", "medium_44k", "large_44k"] = "large_44k_v2"
    window_s: float = Field(8.0, gt=0, description="model window; longer scenes are windowed")
    overlap_s: float = Field(1.0, ge=0, description="crossfade between windows")
    negative_prompt: str = "speech, talking, voice, singing, music"
    cfg_strength: float = 4.5
    num_steps: int = 25
    seed: int = 42
    gpu_resource: str = Field("GPU", description="Dask resource name GPU tasks require")
    device: str = Field("cuda", description="mmaudio's torch device; 'cpu' runs it in float32 to check the "
                        "path without a GPU (slow; a warning says so)")
    batch_windows: int = Field(8, ge=1, description="most windows one model call takes (mmaudio, simulated-gpu); "
                               "equal windows of the scenes of one render task share calls")
    simulated_batch_cost: float = Field(0.25, ge=0, description="simulated-gpu: each window after the first adds "
                                        "this fraction of simulated_latency_s to a call")
    library_dir: str | None = Field(None, description="the library backend's folders of recordings, ':'-separated "
                                    "(indexed with `lvas library index`); None = every folder in its index")
    library_index: str | None = Field(None, description="where the library index is: a folder or a Chroma server "
                                      "URL; None = <LVAS_CACHE_DIR>/library")
    library_min_score: float = Field(0.5, ge=-1, le=1, description="least similarity of a recording to its label")
    library_state: str | None = Field(None, description="set by lvas when a library run starts: a digest of the "
                                      "indexed recordings, so that re-indexing re-renders (not a user setting)")

    @field_validator("backend")
    @classmethod
    def _known(cls, name: str) -> str:
        return registry.choose(registry.SYNTHS, name, "synth").name


class MixSettings(Section):
    target_lufs: float = -23.0
    true_peak_dbtp: float = -1.0
    layer_lufs: float = Field(-23.0, description="each layer is normalised to this before volumes")
    background_gain_db: float = Field(-8.0, le=0, description="background sits this far under foreground")
    scene_crossfade_s: float = Field(0.15, ge=0)
    original_audio: Literal["drop", "keep", "clean"] = Field(
        "drop", description="the input's own track: drop it, keep it as a second stream, or clean it (denoise) "
        "and mix it with the new sound, ducking the new sound under it")
    duck_db: float = Field(-10.0, le=0, ge=-40, description="original_audio=clean: the new sound's level "
                           "where the original track is active")

    @model_validator(mode="before")
    @classmethod
    def _legacy_keep(cls, data: object) -> object:
        """Settings saved before ``original_audio`` existed said ``keep_original_audio``."""
        if isinstance(data, dict) and "keep_original_audio" in data:
            data = dict(data)
            if data.pop("keep_original_audio") and "original_audio" not in data:
                data["original_audio"] = "keep"
        return data


class ReflectSettings(Section):
    """The reflection stage (AVAgent): score each rendered scene, repair it while it scores low."""

    enabled: bool = Field(True, description="run the reflect stage between render and mix")
    threshold: float = Field(0.85, ge=0, le=1, description="a scene scoring at least this is left as it is")
    max_cycles: int = Field(3, ge=0, le=20, description="plan-edit-score cycles per scene at most")
    planner: Literal["offline", "llm"] = Field("offline", description="offline rule or the agents' LLM endpoint")
    scorer: str = Field("embedded", description="one of lvas.audio.scores.SCORERS")
    scorer_options: dict[str, str | float | int] = Field(default_factory=dict,
                                                          description="the scorer's options (e.g. weights path)")


class ComposeSettings(Section):
    """``lvas compose``: audio from an instruction, no video."""

    max_duration_s: float = Field(1800.0, gt=0, description="longest composition one instruction may ask for")
    max_instruction_chars: int = Field(2000, ge=1, description="longest instruction accepted")
    min_segment_s: float = Field(5.0, gt=0, description="shortest story segment the planner makes")
    overlap_s: float = Field(2.0, ge=0, description="crossfade of an ambience that changes between segments")
    event_s: float = Field(4.0, gt=0, description="offline planner: a foreground sound's length at most")


class RunSettings(Section):
    dask_address: str | None = Field(None, description="existing scheduler, e.g. tcp://10.0.0.5:8786")
    workers: int = Field(2, ge=1, description="LocalCluster worker processes")
    threads_per_worker: int = Field(1, ge=1)
    gpu_workers: int = Field(0, ge=0, description="local workers that declare a GPU resource")
    batch_videos: int = Field(16, ge=1, description="most videos one task works through (grouped when there "
                              "are many; fewer when that would leave workers idle)")
    render_group_s: float = Field(60.0, gt=0, description="a render task takes scenes until they last this long")
    task_retries: int = Field(2, ge=0, description="Prefect retries of a unit after a transient backend error")
    retry_delay_s: float = Field(10.0, ge=0, description="first retry delay; doubles per retry")
    stages: tuple[str, ...] = Field(registry.STAGES, description="stages to run (mix includes mux+report)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LVAS_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    storyboard: StoryboardSettings = StoryboardSettings()
    agents: AgentSettings = AgentSettings()
    kb: KBSettings = KBSettings()
    synth: SynthSettings = SynthSettings()
    mix: MixSettings = MixSettings()
    compose: ComposeSettings = ComposeSettings()
    reflect: ReflectSettings = ReflectSettings()
    run: RunSettings = RunSettings()

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, blob: str) -> Settings:
        return cls.model_validate_json(blob)


# --------------------------------------------------------------------------- secrets

# Endpoint URLs whose credentials are secrets wherever they were configured.
URL_ENV_VARS = ("PREFECT_API_URL", "LVAS_AGENTS__BASE_URL", "LVAS_KB__CHROMA_URL")
REDACTED = "***"
_registered: set[str] = set()


def redact_url(url: str | None) -> str | None:
    """``url`` without credentials: its user info and query values replaced by ``***``.

    Settings are dumped to JSON this way (settings.json, Prefect's flow-run parameters, cache
    keys), so a password or token in an endpoint URL is never stored."""
    if not url or ("@" not in url and "?" not in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(f"{k}={REDACTED}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str | None) -> set[str]:
    """The credentials in an endpoint URL: the password (or a user name that is a token), query values."""
    if not url:
        return set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    found = {parts.password or parts.username or ""}
    found |= {v for _, v in parse_qsl(parts.query)}
    return {x for raw in found if raw for x in (raw, unquote(raw))}


def register_secret(value: str | None) -> None:
    """Have :func:`redact` remove ``value`` in this process from now on (an API key read here)."""
    if value and len(value) >= 4:
        _registered.add(value)


def secrets_of(settings: Settings | AgentSettings | None = None) -> set[str]:
    """Every secret :func:`redact` removes: the API key (the env var ``api_key_env`` names, and
    OPENAI_API_KEY), the credentials of the configured endpoints (agents, Chroma, Prefect's API),
    and what was registered in this process."""
    agents = settings.agents if isinstance(settings, Settings) else settings
    key_vars = {"OPENAI_API_KEY", agents.api_key_env if agents is not None else "OPENAI_API_KEY"}
    found = {os.environ.get(v, "") for v in key_vars} | set(_registered)
    urls = [os.environ.get(v) for v in URL_ENV_VARS]
    if agents is not None:
        urls.append(agents.base_url)
    if isinstance(settings, Settings):
        urls.append(settings.kb.chroma_url)
    for url in urls:
        found |= url_secrets(url)
    return {s for s in found if len(s) >= 4}


def redact(text: str, settings: Settings | AgentSettings | None = None) -> str:
    """``text`` with every secret of :func:`secrets_of` replaced by ``***`` (longest first).

    Arguments:
        text: an error message or any text about to be stored or shown.
        settings: the run's settings, when the caller has them (their endpoints' credentials).

    Returns:
        The text, redacted.
    """
    if not text:
        return text
    for secret in sorted(secrets_of(settings), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
