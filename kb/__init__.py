"""The sound-label knowledge base: curated labels (``lvas.kb.labels``) and their Chroma store (``lvas.kb.store``).

Only the light data API is re-exported here; import ``lvas.kb.store`` for the store (it loads Chroma).
"""

from lvas.kb.labels import FAMILIES, Label, data_hash, load_labels

__all__ = ["FAMILIES", "Label", "data_hash", "load_labels"]
