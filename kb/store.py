"""The Chroma label store: build it once from ``kb/labels.csv``, then query it by description.

Embedded default: a Chroma ``PersistentClient`` in a local folder. Clusters: a Chroma server by URL
(``HttpClient``), so that every Dask worker reads the same store. Either way the embedding function
is ``lvas.kb.embedding.MiniLMEmbeddingFunction``, passed explicitly to every collection call (Chroma's
default one would try to download a model).

Writers: ``build`` is the only writer. Locally it holds a file lock in the store folder, so two
processes cannot build at once; against a server there is no cross-host lock, so build once (``lvas
kb build``, or the flow's first task) before the per-scene fan-out, which only reads. Chroma is
thread-safe for readers, not process-safe for concurrent writers.

Usage::

    store = LabelStore("out/kb")
    store.build()                              # no-op when data and model are unchanged
    store.query("heavy downpour on a tin roof", k=5, layer="ambience")
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from lvas.errors import BackendUnavailable
from lvas.kb.embedding import MiniLMEmbeddingFunction, cached_embeddings, embedding_function, model_id
from lvas.kb.labels import LABELS_PATH, LAYERS, Label, data_hash, load_labels
from lvas.settings import redact_url

DEFAULT_PATH = Path("out") / "kb"
DEFAULT_COLLECTION = "lvas_labels"
# Bump when Label.document() or the stored metadata change shape: it forces a rebuild.
DOC_FORMAT = "2"
FINGERPRINT_KEY = "lvas_fingerprint"
LOCK_NAME = "build.lock"
DB_NAME = "chroma.sqlite3"  # the local store's database file (PersistentClient)


@dataclass(frozen=True)
class LabelHit:
    """One retrieved label.

    Attributes:
        label: the label name (a key of ``lvas.kb.labels.labels_by_name()``).
        scenario, layer, family: copied from the label.
        distance: cosine distance to the query, 0 (same direction) to 2.
    """

    label: str
    scenario: str
    layer: str
    family: str
    distance: float

    @property
    def score(self) -> float:
        """Cosine similarity, ``1 - distance``: higher is closer."""
        return 1.0 - self.distance

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the score included."""
        return {**asdict(self), "score": round(self.score, 4)}


class LabelStore:
    """The label knowledge base in Chroma.

    Arguments:
        path: local store folder (PersistentClient); ignored when ``url`` is given. Default ``out/kb``.
        url: a Chroma server, ``http://host:port`` or ``https://host:port``; None = local store.
        collection: the collection name.
        labels_path: the label data file; defaults to the packaged ``kb/labels.csv``.

    Raises:
        ValueError: the URL is not an http(s) URL with a host.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        url: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        *,
        labels_path: str | Path | None = None,
    ) -> None:
        self.url = url
        self.path = None if url else Path(path) if path is not None else DEFAULT_PATH
        self.collection_name = collection
        self.labels_path = Path(labels_path) if labels_path is not None else LABELS_PATH
        self.ef: MiniLMEmbeddingFunction = embedding_function()
        self._client: Any = None
        self._collection: Any = None
        self._scenarios: frozenset[str] | None = None
        self._opened: tuple[int, int] | None = None  # (device, inode) of the local database file opened
        if url:
            _parse_url(url)  # fail at construction on a malformed URL, not at first use

    @classmethod
    def from_settings(cls, kb_settings: Any, out_dir: str | Path) -> LabelStore:
        """Build a store from ``Settings.kb`` (``chroma_url``, ``path``, ``collection``).

        Arguments:
            kb_settings: an ``lvas.settings.KBSettings``.
            out_dir: the run's output folder; the local store defaults to ``<out_dir>/kb``.

        Returns:
            The store (nothing is opened yet).
        """
        path = kb_settings.path or Path(out_dir) / "kb"
        return cls(path=path, url=kb_settings.chroma_url, collection=kb_settings.collection)

    def __repr__(self) -> str:
        where = redact_url(self.url) or str(self.path)
        return f"LabelStore({where!r}, collection={self.collection_name!r})"

    # ------------------------------------------------------------------ connection

    def _where(self) -> str:
        return f"Chroma server {redact_url(self.url)}" if self.url else f"local store {self.path}"

    @property
    def client(self) -> Any:
        """The Chroma client, opened on first use.

        Raises:
            BackendUnavailable: the server cannot be reached (transient) or the folder cannot be opened.
        """
        if self._client is not None and self._replaced():
            self._close()  # the folder was deleted or replaced under an open handle: open the new one
        if self._client is None:
            settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            try:
                if self.url:
                    host, port, ssl = _parse_url(self.url)
                    self._client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
                    self._client.heartbeat()
                else:
                    assert self.path is not None
                    self.path.mkdir(parents=True, exist_ok=True)
                    self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
                    self._opened = self._db_file_id()
            except Exception as exc:  # Chroma raises several unrelated types here
                self._client = None
                raise BackendUnavailable(
                    f"cannot open the label store ({self._where()}): {exc}", transient=bool(self.url)
                ) from exc
        return self._client

    def _db_file_id(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            st = (self.path / DB_NAME).stat()
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def _replaced(self) -> bool:
        """True when a local store's database file is gone or is another file than the one opened.

        A long-lived Dask worker keeps its store open across runs; when a run's output folder is
        deleted and made again, the open handle still reads the deleted file. While that handle is
        open the old inode stays allocated, so a new file cannot have the same (device, inode)."""
        return self.path is not None and self._db_file_id() != self._opened

    def _close(self) -> None:
        """Close the client: Chroma stops a local store's shared System when its last client closes."""
        client, self._client, self._collection, self._scenarios = self._client, None, None, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a System on a deleted folder may complain
                client.close()

    def _get_collection(self) -> Any:
        client = self.client  # first: it reopens a replaced store, dropping the cached collection too
        if self.path is not None and self._db_file_id() is None:
            # the folder was deleted under an open handle, which another client may still share
            raise BackendUnavailable(f"the label store ({self._where()}) is gone: build it first with `lvas kb build`")
        if self._collection is None:
            try:
                self._collection = client.get_collection(self.collection_name, embedding_function=self.ef)
            except NotFoundError as exc:
                raise BackendUnavailable(
                    f"the label store ({self._where()}) has no collection {self.collection_name!r}: "
                    "build it first with `lvas kb build`"
                ) from exc
            except BackendUnavailable:
                raise
            except Exception as exc:  # connection errors surface here for a server
                raise BackendUnavailable(
                    f"cannot read the label store ({self._where()}): {exc}", transient=bool(self.url)
                ) from exc
        return self._collection

    # ------------------------------------------------------------------ build

    def fingerprint(self) -> str:
        """What the built collection must match: data file hash, embedding model id, document format.

        Returns:
            A hex digest.
        """
        blob = "\n".join([data_hash(self.labels_path), model_id(), DOC_FORMAT])
        return hashlib.sha256(blob.encode()).hexdigest()

    def built_fingerprint(self) -> str | None:
        """The fingerprint recorded in the existing collection, or None when there is none."""
        try:
            col = self.client.get_collection(self.collection_name, embedding_function=self.ef)
        except NotFoundError:
            return None
        return (col.metadata or {}).get(FINGERPRINT_KEY)

    def is_built(self) -> bool:
        """True when the collection exists and matches the current data and model."""
        return self.built_fingerprint() == self.fingerprint()

    def build(self, force: bool = False) -> bool:
        """Create or refresh the collection from the label data file.

        Idempotent: does nothing when the collection's recorded fingerprint (data file hash +
        embedding model id + document format) matches. A rebuild replaces the whole collection;
        the fingerprint is written last, so a build that crashed half-way is redone next time.

        Arguments:
            force: rebuild even when the fingerprint matches.

        Returns:
            True when the collection was (re)built, False when it was already up to date.

        Raises:
            BackendUnavailable: the store cannot be opened or written.
            kb.labels.LabelDataError: the label data file is invalid.
        """
        want = self.fingerprint()
        with self._build_lock():
            if not force and self.built_fingerprint() == want:
                return False
            labels = load_labels(self.labels_path)
            self._write(labels, want)
        return True

    def _write(self, labels: list[Label], fingerprint: str) -> None:
        client = self.client
        with contextlib.suppress(NotFoundError):
            client.delete_collection(self.collection_name)
        self._collection = None
        col = client.create_collection(
            self.collection_name,
            embedding_function=self.ef,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={FINGERPRINT_KEY: "incomplete"},
        )
        documents = [lab.document() for lab in labels]
        col.add(
            ids=[lab.label for lab in labels],
            documents=documents,
            embeddings=cached_embeddings(documents, self.ef),
            metadatas=[_metadata(lab) for lab in labels],
        )
        col.modify(metadata={FINGERPRINT_KEY: fingerprint, "labels": len(labels)})
        self._collection = col
        self._scenarios = None

    @contextlib.contextmanager
    def _build_lock(self) -> Iterator[None]:
        # Only a local store can be locked; a server build is done once before the fan-out.
        if self.path is None:
            yield
            return
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_NAME, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ query

    def scenarios(self) -> frozenset[str]:
        """The scenario names present in the built collection."""
        if self._scenarios is None:
            metas = self._get_collection().get(include=["metadatas"])["metadatas"] or []
            self._scenarios = frozenset(str(m["scenario"]) for m in metas)
        return self._scenarios

    def query(
        self,
        text: str,
        k: int = 5,
        scenario: str | None = None,
        layer: str | None = None,
        *,
        include_speech: bool = True,
    ) -> list[LabelHit]:
        """The ``k`` labels closest to a sound description.

        Arguments:
            text: a free description, e.g. "heavy downpour drumming on a tin roof".
            k: how many hits at most.
            scenario: keep only this scenario (e.g. ``nature_weather``).
            layer: keep only ``event`` or ``ambience`` labels.
            include_speech: False drops speech and singing labels (family ``voice``).

        Returns:
            Hits, closest first.

        Raises:
            ValueError: ``k`` < 1, or an unknown layer or scenario.
            BackendUnavailable: the store is not built or cannot be reached.
        """
        where = self._where_filter(scenario, layer, include_speech)
        return self._query([text], k, where)[0]

    def query_many(
        self,
        texts: Sequence[str],
        k: int = 5,
        layer: str | None = None,
        *,
        include_speech: bool = True,
    ) -> dict[str, list[LabelHit]]:
        """Query several descriptions at once: one embedding call and one Chroma query.

        Arguments:
            texts: descriptions; duplicates are queried once.
            k: hits per description.
            layer: keep only ``event`` or ``ambience`` labels.
            include_speech: False drops speech and singing labels.

        Returns:
            ``{text: hits}`` for every distinct text, in first-seen order.

        Raises:
            ValueError: ``k`` < 1 or an unknown layer.
            BackendUnavailable: the store is not built or cannot be reached.
        """
        unique = list(dict.fromkeys(texts))
        if not unique:
            return {}
        where = self._where_filter(None, layer, include_speech)
        return dict(zip(unique, self._query(unique, k, where), strict=True))

    def labels_by_layer(self, texts: dict[str, list[str]], k: int = 5) -> dict[str, dict[str, list[str]]]:
        """Label names for the descriptions of each layer: {layer: {text: [labels, best first]}}.

        Raises:
            ValueError, BackendUnavailable: as :meth:`query_many`.
        """
        return {layer: {t: [h.label for h in hits] for t, hits in self.query_many(ts, k=k, layer=layer).items()}
                for layer, ts in texts.items()}

    def _where_filter(self, scenario: str | None, layer: str | None, include_speech: bool) -> dict | None:
        clauses: list[dict[str, Any]] = []
        if layer is not None:
            if layer not in LAYERS:
                raise ValueError(f"unknown layer {layer!r}: use one of {', '.join(LAYERS)}")
            clauses.append({"layer": layer})
        if scenario is not None:
            if scenario not in self.scenarios():
                known = ", ".join(sorted(self.scenarios()))
                raise ValueError(f"unknown scenario {scenario!r}: use one of {known}")
            clauses.append({"scenario": scenario})
        if not include_speech:
            clauses.append({"speech": False})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def _query(self, texts: list[str], k: int, where: dict | None) -> list[list[LabelHit]]:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        # Embed here rather than through query_texts so that a batch is exactly one model call.
        vectors = self.ef(texts)

        def ask() -> Any:
            return self._get_collection().query(
                query_embeddings=vectors, n_results=k, where=where, include=["metadatas", "distances"]
            )

        try:
            res = ask()
        except BackendUnavailable:
            raise
        except Exception as exc:
            if self.url:  # a server that went away mid-run: the task's retries take it from here
                raise BackendUnavailable(f"label query failed ({self._where()}): {exc}", transient=True) from exc
            # A local handle that went bad (Chroma's "Failed to get segments"): reopen once, then give up.
            self._close()
            try:
                res = ask()
            except BackendUnavailable:
                raise
            except Exception as again:
                raise BackendUnavailable(
                    f"label query failed ({self._where()}), also after reopening the store: {again}"
                ) from exc
        return [
            [_hit(i, m, d) for i, m, d in zip(ids, metas, dists, strict=True)]
            for ids, metas, dists in zip(res["ids"], res["metadatas"], res["distances"], strict=True)
        ]


# ---------------------------------------------------------------------- helpers


def _metadata(lab: Label) -> dict[str, Any]:
    return {
        "scenario": lab.scenario,
        "layer": lab.layer,
        "family": lab.family,
        "speech": lab.is_speech,
    }


def _hit(label_id: str, meta: dict[str, Any], distance: float) -> LabelHit:
    return LabelHit(
        label=label_id,
        scenario=str(meta["scenario"]),
        layer=str(meta["layer"]),
        family=str(meta["family"]),
        distance=float(distance),
    )


def _parse_url(url: str) -> tuple[str, int, bool]:
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Chroma URL {url!r} must look like http://host:port")
    ssl = parts.scheme == "https"
    return parts.hostname, parts.port or (443 if ssl else 8000), ssl


def format_hits(hits: Sequence[LabelHit]) -> str:
    """Human-readable hits, one per line: rank, score, label, scenario, layer, family.

    Arguments:
        hits: as returned by ``LabelStore.query``.

    Returns:
        The table as text ("no matching label" when empty).
    """
    if not hits:
        return "no matching label"
    width = max(len(h.label) for h in hits)
    return "\n".join(
        f"{rank:>2}. {h.score:5.3f}  {h.label:<{width}}  {h.scenario} / {h.layer} / {h.family}"
        for rank, h in enumerate(hits, 1)
    )


def hits_to_json(hits: Sequence[LabelHit]) -> str:
    """The hits as a JSON array of objects (for ``lvas kb query --json``)."""
    return json.dumps([h.to_dict() for h in hits], indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lvas.kb.store build [--force] | query TEXT [-k N] [--json]`` (same as ``lvas kb``).

    Arguments:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 2 when the store is unavailable.
    """
    parser = argparse.ArgumentParser(prog="kb", description="the sound-label knowledge base")
    parser.add_argument("--path", default=None, help=f"local store folder (default {DEFAULT_PATH})")
    parser.add_argument("--url", default=None, help="Chroma server, http://host:port")
    parser.add_argument("--collection", default=DEFAULT_COLLECTION)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the store (no-op when up to date)")
    b.add_argument("--force", action="store_true")
    q = sub.add_parser("query", help="the labels closest to a description")
    q.add_argument("text")
    q.add_argument("-k", type=int, default=5)
    q.add_argument("--scenario", default=None)
    q.add_argument("--layer", choices=LAYERS, default=None)
    q.add_argument("--no-speech", action="store_true", help="leave out speech and singing labels")
    q.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    store = LabelStore(args.path, args.url, args.collection)
    try:
        if args.cmd == "build":
            built = store.build(force=args.force)
            print(f"{store}: {'built' if built else 'up to date'}")
            return 0
        hits = store.query(
            args.text, k=args.k, scenario=args.scenario, layer=args.layer, include_speech=not args.no_speech
        )
    except BackendUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(hits_to_json(hits) if args.json else format_hits(hits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
