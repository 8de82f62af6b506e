"""Design tasks: the label store's build and the label retrieval that the design-refine subflow
(``lvas.flows.design_refine``) calls once per round."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from lvas.settings import KBSettings, Settings
from lvas.tasks.common import lvas_task, retry_transient

if TYPE_CHECKING:
    from lvas.kb.store import LabelStore


@functools.lru_cache(maxsize=8)
def label_store(kb: KBSettings, out: str) -> LabelStore:
    """One open store per worker process (the embedding model loads once, too). Chroma is imported
    here, not with this module: the flow process imports this module but never opens a store."""
    from lvas.kb.store import LabelStore
    from lvas.settings import register_secret, url_secrets

    for secret in url_secrets(kb.chroma_url):  # redacted from this worker's status records
        register_secret(secret)
    return LabelStore.from_settings(kb, out)


@lvas_task(name="build-label-store", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def build_label_store(out: str, settings: Settings) -> bool:
    """Build (or find up to date) the run's Chroma label store before any design reads it."""
    return label_store(settings.kb, out).build()


@lvas_task(name="retrieve-labels", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def retrieve_labels(texts: dict[str, list[str]], out: str, settings: Settings) -> dict[str, dict[str, list[str]]]:
    """Query the Chroma label store for one design round: {layer: {text: [labels, best first]}}."""
    return label_store(settings.kb, out).labels_by_layer(texts, k=settings.agents.retrieve_k)
