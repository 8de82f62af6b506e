"""The label knowledge base: the curated data file, the Chroma store, retrieval and its filters.

The store is built once per module (model load + 197 embeddings, a few seconds) with Chroma's
default embedding function and every non-loopback connection booby-trapped, so the whole module
also proves that nothing here downloads anything.
"""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lvas.errors import BackendUnavailable
from lvas.kb import labels as kb_labels
from lvas.kb.embedding import EF_NAME, MiniLMEmbeddingFunction
from lvas.kb.labels import FAMILIES, LAYERS, LabelDataError, data_hash, load_excluded, load_labels
from lvas.kb.store import LabelHit, LabelStore, format_hits, hits_to_json, main

VGGSOUND_CLASSES = 309  # the size of VGGSound's class list the labels were regrouped from


# ---------------------------------------------------------------------- the data file


def test_families_vocabulary() -> None:
    assert len(FAMILIES) == 29
    assert len(set(FAMILIES)) == 29
    assert {"rain", "room_tone", "power_tool", "voice", "whoosh"} <= set(FAMILIES)


def test_data_file_shape() -> None:
    labels = load_labels()
    assert 180 <= len(labels) <= 205
    names = [lab.label for lab in labels]
    assert len(names) == len(set(names))
    assert len({lab.scenario for lab in labels}) == 20
    assert {lab.layer for lab in labels} == set(LAYERS)
    # Every synthesizer family has at least one label, so the synthesizer's whole range is reachable.
    assert {lab.family for lab in labels} == set(FAMILIES)
    for lab in labels:
        assert lab.sources and lab.scenes and len(lab.description) > 20, lab.label
    # Ambience beds are what the background layer needs: there must be a real choice of them.
    assert sum(lab.layer == "ambience" for lab in labels) >= 30


def test_every_vggsound_class_is_accounted_for() -> None:
    labels = load_labels()
    sources = [src for lab in labels for src in lab.sources]
    excluded = load_excluded()
    assert len(sources) == len(set(sources)), "a class is merged into two labels"
    assert not set(sources) & set(excluded), "a class is both used and excluded"
    assert len(sources) + len(excluded) == VGGSOUND_CLASSES
    assert all(reason for reason in excluded.values())
    # A few spot checks that merges kept the original class names verbatim.
    assert {"raining", "dog bow-wow", "playing tympani", "female speech, woman speaking"} <= set(sources)


def test_speech_and_singing_are_tagged() -> None:
    by_name = {lab.label: lab for lab in load_labels()}
    speech = {name for name, lab in by_name.items() if lab.is_speech}
    assert {"man speaking", "woman speaking", "child speaking", "singing", "choir", "whispering"} <= speech
    # Non-speech vocal sounds stay usable when speech is filtered out.
    for name in ("laughter", "baby crying", "screaming", "coughing", "crowd cheering", "applause"):
        assert not by_name[name].is_speech, name


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(kb_labels.COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows(n: int) -> list[dict[str, str]]:
    with open(kb_labels.LABELS_PATH, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))[:n]


@dataclass(frozen=True)
class BadRow:
    column: str
    value: str
    message: str


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(BadRow("family", "banjo_synth", "family 'banjo_synth'"), id="unknown-family"),
        pytest.param(BadRow("layer", "foreground", "layer 'foreground'"), id="unknown-layer"),
        pytest.param(BadRow("description", "", "description"), id="empty-column"),
    ],
)
def test_load_rejects_invalid_rows(tmp_path: Path, bad: BadRow) -> None:
    rows = _rows(3)
    rows[1][bad.column] = bad.value
    path = _write_csv(tmp_path / "labels.csv", rows)
    with pytest.raises(LabelDataError, match=bad.message) as info:
        load_labels(path)
    assert str(path) in str(info.value)


def test_load_rejects_duplicates(tmp_path: Path) -> None:
    rows = _rows(3)
    with pytest.raises(LabelDataError, match="appears twice"):
        load_labels(_write_csv(tmp_path / "dup.csv", [*rows, rows[0]]))
    rows[2]["sources"] = rows[0]["sources"]
    with pytest.raises(LabelDataError, match="source class"):
        load_labels(_write_csv(tmp_path / "src.csv", rows))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabelDataError, match=r"nope\.csv"):
        load_labels(tmp_path / "nope.csv")


def test_data_hash_tracks_content(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "labels.csv", _rows(3))
    before = data_hash(path)
    assert data_hash(path) == before
    path.write_text(path.read_text() + "\n", encoding="utf-8")
    assert data_hash(path) != before
    assert len(data_hash()) == 64


# ---------------------------------------------------------------------- the store


@pytest.fixture(scope="module")
def offline():
    """No default embedding function and no network beyond loopback, for the whole module."""
    from chromadb.api.types import DefaultEmbeddingFunction
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def forbidden(*args, **kwargs):
        raise AssertionError("Chroma's default (downloading) embedding function was used")

    real_connect = socket.socket.connect

    def loopback_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")):
            raise AssertionError(f"network access to {address!r} during a kb test")
        return real_connect(sock, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DefaultEmbeddingFunction, "__call__", forbidden)
        mp.setattr(ONNXMiniLM_L6_V2, "__call__", forbidden)
        mp.setattr(socket.socket, "connect", loopback_only)
        yield


@pytest.fixture(scope="module")
def store(offline, tmp_path_factory) -> LabelStore:
    s = LabelStore(tmp_path_factory.mktemp("kb"))
    assert s.build() is True
    return s


def test_build_is_idempotent(store: LabelStore) -> None:
    calls = store.ef.calls
    assert store.build() is False
    assert store.ef.calls == calls, "an up-to-date build must not embed anything"
    assert store.is_built()
    # A second process (a fresh object on the same folder) sees the same built store.
    other = LabelStore(store.path)
    assert other.build() is False
    assert other.query("rain", k=1)[0].label == "rain"


def test_changed_data_forces_rebuild(offline, tmp_path: Path) -> None:
    data = _write_csv(tmp_path / "labels.csv", _rows(12))
    s = LabelStore(tmp_path / "kb", labels_path=data)
    assert s.build() is True
    assert s.build() is False
    data.write_text(data.read_text().replace("steady rainfall", "steady heavy rainfall"), encoding="utf-8")
    assert s.build() is True
    assert s.build() is False
    assert s.build(force=True) is True
    assert s._get_collection().count() == 12


def test_a_store_folder_replaced_under_an_open_handle_is_reopened(offline, tmp_path: Path) -> None:
    # A standing Dask worker keeps its store open across runs; a new run may write the same output
    # folder after the old one was deleted. The open handle must not keep reading the deleted file.
    data = _write_csv(tmp_path / "labels.csv", _rows(12))
    s = LabelStore(tmp_path / "out" / "kb", labels_path=data)
    assert s.build() is True
    before = s.query("rain on a roof", k=3)
    shutil.rmtree(tmp_path / "out")
    assert s.build() is True, "the deleted store was taken for an up-to-date one"
    assert (tmp_path / "out" / "kb" / "chroma.sqlite3").is_file()
    assert s.query("rain on a roof", k=3) == before
    fresh = LabelStore(tmp_path / "out" / "kb", labels_path=data)
    assert fresh.build() is False
    assert fresh.query("rain on a roof", k=3) == before
    # Deleted with no rebuild: a clear "build it first", not a read of the old file.
    shutil.rmtree(tmp_path / "out")
    with pytest.raises(BackendUnavailable, match="lvas kb build"):
        s.query("rain on a roof", k=3)


def test_a_failed_local_query_reopens_the_store_once(offline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _write_csv(tmp_path / "labels.csv", _rows(12))
    s = LabelStore(tmp_path / "kb", labels_path=data)
    s.build()
    want = s.query("rain on a roof", k=2)
    failures = {"left": 1}
    real = type(s._get_collection()).query

    def flaky(col, *args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("Failed to get segments")
        return real(col, *args, **kwargs)

    monkeypatch.setattr(type(s._get_collection()), "query", flaky)
    opened = s._client
    assert s.query("rain on a roof", k=2) == want
    assert s._client is not opened, "the store was not reopened after the failure"
    failures["left"] = 2
    with pytest.raises(BackendUnavailable, match=r"also after reopening.*Failed to get segments") as info:
        s.query("rain on a roof", k=2)
    assert info.value.transient is False


def test_collection_uses_our_embedding_function(store: LabelStore) -> None:
    col = store._get_collection()
    config = col.configuration_json
    assert config["embedding_function"]["name"] == EF_NAME
    assert isinstance(col._embedding_function, MiniLMEmbeddingFunction)
    assert config["hnsw"]["space"] == "cosine"
    assert col.count() == len(load_labels())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("rain hammering on the windows during a storm", "rain", id="rain"),
        pytest.param("seagulls over a beach with surf breaking", "ocean waves", id="beach"),
        pytest.param("a pack of hounds woofing at a stranger", "dog barking", id="dogs"),
        pytest.param("gridlocked traffic with drivers honking", "vehicle horn", id="horns"),
        pytest.param("a blacksmith's hammer ringing on metal", "blacksmith forging", id="forge"),
        pytest.param("a spectator crowd roaring after a goal", "crowd cheering", id="cheer"),
        pytest.param("a sniper rifle and automatic weapons in combat", "gunfire machine gun", id="gunfire"),
        pytest.param(
            "an office worker tapping away on a keyboard", "computer keyboard and mouse", id="typing"
        ),
    ],
)
def test_sensible_labels(store: LabelStore, text: str, expected: str) -> None:
    hits = store.query(text, k=3)
    assert expected in [h.label for h in hits], format_hits(hits)
    assert all(isinstance(h, LabelHit) for h in hits)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)


def test_layer_and_scenario_filters(store: LabelStore) -> None:
    hits = store.query("birds singing in the morning", k=8, layer="ambience")
    assert len(hits) == 8 and all(h.layer == "ambience" for h in hits)
    hits = store.query("a loud bang", k=6, scenario="weapons_military")
    assert len(hits) == 6 and all(h.scenario == "weapons_military" for h in hits)
    hits = store.query("a rhythmic clatter", k=5, scenario="rail", layer="event")
    assert hits and all(h.scenario == "rail" and h.layer == "event" for h in hits)


def test_speech_filter(store: LabelStore) -> None:
    text = "a man talking to a woman"
    assert store.query(text, k=3)[0].family == "voice"
    hits = store.query(text, k=10, include_speech=False)
    assert hits and all(h.family != "voice" for h in hits)


def test_bad_filters_are_clear(store: LabelStore) -> None:
    with pytest.raises(ValueError, match=r"unknown scenario 'space'.*nature_weather"):
        store.query("x", scenario="space")
    with pytest.raises(ValueError, match="unknown layer"):
        store.query("x", layer="foreground")
    with pytest.raises(ValueError, match="k must be"):
        store.query("x", k=0)


def test_query_many_is_one_embedding_call(store: LabelStore) -> None:
    texts = [
        "waves crashing on rocks",
        "a chainsaw felling a tree",
        "waves crashing on rocks",
        "an owl at night",
    ]
    calls = store.ef.calls
    out = store.query_many(texts, k=4, layer="event")
    assert store.ef.calls == calls + 1
    assert list(out) == ["waves crashing on rocks", "a chainsaw felling a tree", "an owl at night"]
    assert out["a chainsaw felling a tree"][0].label == "chainsaw"
    assert all(h.layer == "event" for hits in out.values() for h in hits)
    single = store.query("an owl at night", k=4, layer="event")
    assert [h.label for h in single] == [h.label for h in out["an owl at night"]]
    assert store.query_many([]) == {}


def test_unbuilt_store_is_backend_unavailable(offline, tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="lvas kb build") as info:
        LabelStore(tmp_path / "empty").query("rain")
    assert info.value.transient is False


def test_unreachable_server_is_transient(offline) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = LabelStore(url=f"http://127.0.0.1:{port}")
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}") as info:
        store.query("rain")
    assert info.value.transient is True
    with pytest.raises(ValueError, match="http://host:port"):
        LabelStore(url="127.0.0.1:8000")


def test_format_and_cli(store: LabelStore, capsys: pytest.CaptureFixture[str]) -> None:
    hits = store.query("a thunderstorm", k=2)
    text = format_hits(hits)
    assert text.splitlines()[0].startswith(" 1.") and hits[0].label in text
    assert format_hits([]) == "no matching label"
    assert json.loads(hits_to_json(hits))[0]["label"] == hits[0].label

    assert main(["--path", str(store.path), "query", "thunder rumbling", "-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 3 and out[0]["label"] == "thunder" and 0 < out[0]["score"] <= 1
    assert main(["--path", str(store.path), "build"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["--path", str(store.path / "missing"), "query", "rain"]) == 2
    assert "lvas kb build" in capsys.readouterr().err


def test_scenario_counts_are_balanced() -> None:
    counts = Counter(lab.scenario for lab in load_labels())
    assert min(counts.values()) >= 3, counts
    assert max(counts.values()) <= 35, counts


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory) -> Iterator[str]:
    """A real Chroma server (the cluster backend) on a free loopback port, stopped afterwards."""
    exe = Path(sys.executable).with_name("chroma")
    if not exe.exists():
        pytest.skip("the chroma server executable is not installed beside this Python")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp_path_factory.mktemp("chroma_server")
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - kept open for the server's lifetime
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"chroma server exited early: {(folder / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        else:
            pytest.fail("chroma server did not start within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_server_store_builds_once_and_answers(offline, store: LabelStore, chroma_server: str) -> None:
    remote = LabelStore(url=chroma_server)
    assert remote.build() is True
    assert remote.build() is False
    assert remote.path is None
    hits = remote.query("pouring rain on a tent", k=3, layer="ambience")
    assert hits[0].label == "rain"
    assert [h.label for h in hits] == [
        h.label for h in store.query("pouring rain on a tent", 3, layer="ambience")
    ]


def test_plain_torch_encoder_matches_sentence_transformers(offline) -> None:
    """kb/minilm.py reproduces the sentence-transformers pipeline (BERT, mean pooling, L2 norm)."""
    import os

    import numpy as np

    from lvas.kb.embedding import load_model, model_dir

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    st = pytest.importorskip("sentence_transformers")
    texts = ["a dog barks twice", "rain on a tin roof, thunder far away", "x",
             "engine idling while horns honk in heavy traffic near a construction site " * 12]  # > 256 tokens
    ours = load_model().encode(texts)
    ref = st.SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (4, 384)
    assert np.abs(ours - ref).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_label_vectors_are_embedded_once_per_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new output folder's store reuses the vectors embedded for the same documents and model;
    other documents, a damaged cache file or an unwritable cache only cost the embedding."""
    import numpy as np

    from lvas.kb.embedding import cached_embeddings

    monkeypatch.setenv("LVAS_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[list[str]] = []

    def ef(docs: list[str]) -> list[np.ndarray]:
        calls.append(list(docs))
        return [np.full(4, len(d), np.float32) for d in docs]

    first = cached_embeddings(["a dog", "rain"], ef)
    again = cached_embeddings(["a dog", "rain"], ef)
    assert len(calls) == 1 and np.array_equal(first, again) and again[1, 0] == 4
    (cached,) = (tmp_path / "cache").glob("label-vectors-*.npy")
    assert not list((tmp_path / "cache").glob("*.part-*"))

    cached_embeddings(["a dog", "rain", "wind"], ef)  # other documents: another key
    assert len(calls) == 2

    cached.write_bytes(b"not an array")
    assert np.array_equal(cached_embeddings(["a dog", "rain"], ef), first)
    assert len(calls) == 3

    monkeypatch.setenv("LVAS_CACHE_DIR", str(cached))  # a file where the folder should be: unwritable
    assert np.array_equal(cached_embeddings(["a dog", "rain"], ef), first)
    assert len(calls) == 4


def test_a_chroma_server_serves_the_store_to_every_client(offline, tmp_path: Path) -> None:
    """`LVAS_KB__CHROMA_URL`: the store built through one client is found built and queried through
    another, on a real Chroma server (`chroma run`, from the chromadb package) on loopback."""
    import shutil

    import httpx

    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([chroma, "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        first = LabelStore(tmp_path / "unused", url=url)
        assert first.build() is True
        other = LabelStore(tmp_path / "unused-too", url=url)
        assert other.build() is False  # found built on the server, nothing embedded again
        assert other.query("rain", k=1)[0].label == "rain"
        assert not (tmp_path / "unused").exists() and not (tmp_path / "unused-too").exists()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_kb_query_without_out_leaves_the_working_folder_alone(offline, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`lvas kb query` is a lookup: without --out it uses the per-user store, not a new ./out/kb."""
    from lvas.cli import main as lvas_main

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("LVAS_CACHE_DIR", str(tmp_path / "cache"))
    assert lvas_main(["kb", "query", "rain on a tin roof", "-k", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert list(work.iterdir()) == []
    assert (tmp_path / "cache" / "kb").is_dir()
