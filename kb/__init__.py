"""The sound-label knowledge base: curated labels (``kb.labels``) and their Chroma store (``kb.store``).

Only the light data API is re-exported here; import ``kb.store`` for the store (it loads Chroma).
"""

from kb.labels import FAMILIES, Label, data_hash, load_labels

__all__ = ["FAMILIES", "Label", "data_hash", "load_labels"]
