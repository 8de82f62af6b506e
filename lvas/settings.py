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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    min_threshold: float = Field(0.08, ge=0, description="floor of the adaptive threshold")
    min_shot_s: float = Field(0.25, ge=0, description="shorter shots are merged into a neighbour")
    flash_window_s: float = Field(0.25, ge=0, description="a change that reverts within this is a flash")
    keyframes_min: int = Field(1, ge=1)
    keyframes_max: int = Field(4, ge=1)
    keyframe_every_s: float = Field(2.5, gt=0, description="one more keyframe per this many seconds of shot")
    keyframe_width: int = Field(384, ge=16, description="width of saved keyframe JPEGs")


class AgentSettings(Section):
    backend: Literal["offline", "openai"] = "offline"
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


class KBSettings(Section):
    chroma_url: str | None = Field(None, description="Chroma server (http://host:port); None = local store")
    path: str | None = Field(None, description="local store folder; None = <out>/kb")
    collection: str = "lvas_labels"


class SynthSettings(Section):
    backend: Literal["procedural", "mmaudio", "simulated-gpu"] = Field(
        "procedural", description="simulated-gpu: procedural audio after a fixed latency, GPU-placed (benchmarks)"
    )
    simulated_latency_s: float = Field(0.5, ge=0, description="per-layer latency of the simulated-gpu backend")
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


class MixSettings(Section):
    target_lufs: float = -23.0
    true_peak_dbtp: float = -1.0
    layer_lufs: float = Field(-23.0, description="each layer is normalised to this before volumes")
    background_gain_db: float = Field(-8.0, le=0, description="background sits this far under foreground")
    scene_crossfade_s: float = Field(0.15, ge=0)
    keep_original_audio: bool = Field(False, description="keep an existing track as a second stream")


class RunSettings(Section):
    dask_address: str | None = Field(None, description="existing scheduler, e.g. tcp://10.0.0.5:8786")
    workers: int = Field(2, ge=1, description="LocalCluster worker processes")
    threads_per_worker: int = Field(1, ge=1)
    gpu_workers: int = Field(0, ge=0, description="local workers that declare a GPU resource")
    batch_videos: int = Field(8, ge=1, description="most videos one task works through (grouped when there "
                              "are many; fewer when that would leave workers idle)")
    render_group_s: float = Field(20.0, gt=0, description="a render task takes scenes until they last this long")
    task_retries: int = Field(2, ge=0, description="Prefect retries of a unit after a transient backend error")
    retry_delay_s: float = Field(10.0, ge=0, description="first retry delay; doubles per retry")
    stages: tuple[str, ...] = Field(
        ("storyboard", "script", "design", "render", "mix"), description="stages to run (mix includes mux+report)"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LVAS_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    storyboard: StoryboardSettings = StoryboardSettings()
    agents: AgentSettings = AgentSettings()
    kb: KBSettings = KBSettings()
    synth: SynthSettings = SynthSettings()
    mix: MixSettings = MixSettings()
    run: RunSettings = RunSettings()

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, blob: str) -> Settings:
        return cls.model_validate_json(blob)
