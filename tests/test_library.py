"""The sound-library synthesizer: indexing (text, descriptors, skips, incremental re-index) and
placing (onsets on planned times, seamless loops, fallback with a reason, determinism, variety).
Every recording is made here with numpy and soundfile."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lvas.backends.library import LibrarySynth, SoundLibrary, SpanRequest, place_recordings, record_path
from lvas.backends.sound_index import SoundIndex, name_text, read_for_analysis, read_tags, split_words
from lvas.backends.synth import get_synth
from lvas.cli import main
from lvas.errors import BackendUnavailable
from lvas.models import LayerSpec
from lvas.settings import SynthSettings

SR = 16000


def one_shot(path: Path, sr: int = 48000, lead_s: float = 0.1, seed: int = 0) -> Path:
    """A decaying noise burst after ``lead_s`` of silence: its onset is at exactly ``lead_s``."""
    rng = np.random.default_rng(seed)
    n = round(0.3 * sr)
    burst = rng.uniform(0.3, 1.0, n) * np.sign(rng.standard_normal(n)) * np.exp(-np.arange(n) / (0.05 * sr))
    audio = np.concatenate([np.zeros(round(lead_s * sr)), 0.8 * burst, np.zeros(round(0.05 * sr))])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sr)
    return path


def tone_loop(path: Path, seconds: float = 2.37, sr: int = SR) -> Path:
    """A steady two-tone bed whose length is not a whole number of periods (a plain repeat clicks)."""
    t = np.arange(round(seconds * sr)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t), sr)
    return path


def library(folder: Path, index_dir: Path, min_score: float = 0.3) -> SoundLibrary:
    index = SoundIndex.open(index_dir)
    index.index([folder])
    return SoundLibrary(index, min_score=min_score)


def first_onset(audio: np.ndarray, lo: int, hi: int) -> int:
    """The first sample in [lo, hi) at a tenth of that window's peak."""
    x = np.abs(audio[lo:hi]).max(axis=1) if audio.ndim == 2 else np.abs(audio[lo:hi])
    return lo + int(np.argmax(x >= 0.1 * x.max()))


# --------------------------------------------------------------------------- names and tags


def test_names_give_words_and_ucs_categories() -> None:
    assert split_words("FootStepGrass1") == ["foot", "step", "grass"]
    assert split_words("default_gravel_footstep.2") == ["default", "gravel", "footstep"]
    assert name_text("DOORWood_Creaky Door Open_JD_Library") == ("creaky door open", "door wood")
    assert name_text("FEET_Boots On Gravel_AB_01") == ("boots on gravel", "footsteps")
    assert name_text("rain_on_tin_roof_03") == ("rain on tin roof", "")


def test_tags_are_read_and_junk_comments_dropped(tmp_path: Path) -> None:
    from mutagen.oggvorbis import OggVorbis

    path = tmp_path / "take7.ogg"
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    tags = OggVorbis(path)
    tags["description"] = "thunder rolling over hills"
    tags["comment"] = "00000A3B 0000120A 00008003"
    tags["license"] = "CC0-1.0"
    tags.save()
    got = read_tags(path)
    assert got["text"] == "thunder rolling over hills"
    assert got["license"] == "CC0-1.0"


# --------------------------------------------------------------------------- indexing


def test_unreadable_silent_and_empty_files_are_skipped_and_counted(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    one_shot(lib / "IMPTWood_Door Knock_AB_01.wav")
    (lib / "zero.wav").write_bytes(b"")
    sf.write(lib / "no_frames.wav", np.zeros(0), SR)
    sf.write(lib / "silence.flac", np.zeros(SR), SR)
    (lib / "broken.ogg").write_bytes(b"OggS" + os.urandom(3000))
    (lib / "notes.txt").write_text("not audio")
    report = SoundIndex.open(tmp_path / "index").index([lib])
    assert report.seen == 5
    assert dict(report.skipped) == {"empty": 2, "silent": 1, "unreadable": 1}
    assert report.usable == 1
    assert any("broken.ogg: unreadable" in p for p in report.problems)
    assert "2 empty, 1 silent, 1 unreadable" in report.text()


def test_reindex_reads_only_new_and_changed_files_and_drops_removed_ones(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for i in range(4):
        one_shot(lib / f"knock_{i}.wav", seed=i)
    index = SoundIndex.open(tmp_path / "index")
    first = index.index([lib])
    assert (first.read, first.added) == (4, 4)

    read: list[str] = []

    def counting(path: Path) -> tuple[np.ndarray, int, float, int]:
        read.append(path.name)
        return read_for_analysis(path)

    again = index.index([lib], reader=counting)
    assert read == [] and again.unchanged == 4

    one_shot(lib / "knock_1.wav", seed=10, lead_s=0.2)  # changed content and size
    os.utime(lib / "knock_1.wav", ns=(1, 1))
    (lib / "knock_3.wav").unlink()
    one_shot(lib / "knock_new.wav", seed=11)
    third = index.index([lib], reader=counting)
    assert sorted(read) == ["knock_1.wav", "knock_new.wav"]
    assert (third.added, third.updated, third.unchanged, third.removed, third.usable) == (1, 1, 2, 1, 4)
    hits = index.query("knock", k=10)
    assert {Path(h.path).name for h in hits} == {"knock_0.wav", "knock_1.wav", "knock_2.wav", "knock_new.wav"}
    assert next(h for h in hits if h.path.endswith("knock_1.wav")).meta["onset_s"] == pytest.approx(0.2, abs=1e-4)


def test_descriptors_tell_one_shots_from_beds(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    one_shot(lib / "hit.wav")
    tone_loop(lib / "hum_loop.wav", seconds=5.0)
    index = SoundIndex.open(tmp_path / "index")
    index.index([lib])
    metas = {Path(m["path"]).name: m for m in index.collection().get(include=["metadatas"])["metadatas"]}
    assert metas["hit.wav"]["shape"] == "oneshot" and metas["hum_loop.wav"]["shape"] == "steady"
    assert metas["hit.wav"]["onset_s"] == pytest.approx(0.1, abs=1e-4)
    assert metas["hit.wav"]["sample_rate"] == 48000 and metas["hum_loop.wav"]["duration_s"] == pytest.approx(5.0)
    assert 150 < metas["hum_loop.wav"]["centroid_hz"] < 400  # two tones at 220 and 331 Hz


def test_onsets_and_their_density_are_measured(tmp_path: Path) -> None:
    from lvas.backends.sound_index import measure

    sr = 16000
    audio = np.zeros(3 * sr)
    for t in (0.25, 0.9, 1.6, 2.3):  # four knocks in 3 s
        audio[round(t * sr):round(t * sr) + 1600] = np.hanning(3200)[1600:] * np.sin(np.arange(1600) * 0.3)
    d = measure(audio, sr, 3.0, 1)
    assert np.allclose(d.onsets, (0.25, 0.9, 1.6, 2.3), atol=0.011)
    assert d.onset_rate == pytest.approx(4 / 3, abs=0.01)
    assert d.onset_s == pytest.approx(0.25, abs=1e-3) and d.shape == "varied"


# --------------------------------------------------------------------------- placing


def test_a_one_shot_lands_on_each_planned_onset_within_a_millisecond(tmp_path: Path) -> None:
    lib = library(tmp_path / "lib", tmp_path / "index") if one_shot(
        tmp_path / "lib" / "FEETWood_Footstep On Wooden Floor_AB_01.wav") else None
    planned = (0.5, 1.7, 2.9)
    sr = 44100  # the recording is at 48 kHz: placed after resampling
    got = place_recordings(lib, SpanRequest("footsteps", "footsteps", "foreground", 0.0, 4.0, onsets=planned),
                           sample_rate=sr, channels=2, seed=1)
    assert got.audio is not None and got.audio.shape == (4 * sr, 2)
    for t in planned:
        found = first_onset(got.audio, round((t - 0.2) * sr), round((t + 0.3) * sr))
        assert abs(found / sr - t) <= 0.001, (t, found / sr)
    assert [p.onset_s for p in got.placements] == list(planned)
    assert all(p.path.endswith("Footstep On Wooden Floor_AB_01.wav") for p in got.placements)


def test_a_bed_is_looped_without_a_click_at_the_seams(tmp_path: Path) -> None:
    lib = library(tmp_path / "lib", tmp_path / "index") if tone_loop(
        tmp_path / "lib" / "AMBRain_Light Rain Loop_AB_01.wav") else None
    got = place_recordings(lib, SpanRequest("rain", "rain", "background", 0.0, 10.0), sample_rate=SR, channels=1,
                           seed=3)
    assert got.audio is not None and len(got.placements) >= 4  # a 2.37 s recording over 10 s: several seams
    audio = got.audio[round(0.02 * SR):-round(0.02 * SR), 0]  # leave out the edge fades

    def jumpiness(x: np.ndarray) -> float:
        return float(np.max(np.abs(np.diff(x))) / np.sqrt(np.mean(x**2)))

    clip, _ = sf.read(tmp_path / "lib" / "AMBRain_Light Rain Loop_AB_01.wav")
    assert jumpiness(audio) <= 1.6 * jumpiness(clip)
    naive = np.tile(clip, 5)  # the same recording repeated without crossfades does click
    assert jumpiness(naive) > 3 * jumpiness(clip)
    rms = np.sqrt(np.convolve(audio**2, np.ones(800) / 800, mode="valid"))
    assert rms.min() > 0.6 * np.median(rms)  # no dip at a seam either


def test_choices_vary_and_never_repeat_back_to_back(tmp_path: Path) -> None:
    for i in range(3):
        one_shot(tmp_path / "lib" / f"knock_on_door_{i}.wav", seed=i)
    lib = library(tmp_path / "lib", tmp_path / "index")
    onsets = tuple(0.3 + 0.5 * i for i in range(12))
    got = place_recordings(lib, SpanRequest("knocking", "knocking", "foreground", 0.0, 6.5, onsets=onsets),
                           sample_rate=SR, channels=1, seed=7)
    used = [p.path for p in got.placements]
    assert len(used) == 12 and len(set(used)) == 3
    assert all(a != b for a, b in itertools.pairwise(used))


def spec(labels: list[str], kind: str = "foreground", seed: int = 5) -> LayerSpec:
    return LayerSpec(video_id="vid", video_path="/nonexistent.mp4", scene_index=2, kind=kind, start_s=1.0,
                     end_s=5.0, labels=labels, prompt=", ".join(labels), seed=seed)


def synth_for_folder(folder: Path, index_dir: Path) -> LibrarySynth:
    SoundIndex.open(index_dir).index([folder])
    got = get_synth(SynthSettings(backend="library", library_index=str(index_dir), library_min_score=0.3))
    assert isinstance(got, LibrarySynth)
    return got


def test_what_the_library_lacks_falls_back_to_procedural_with_the_reason(tmp_path: Path) -> None:
    one_shot(tmp_path / "lib" / "knock_on_door.wav")
    synth = synth_for_folder(tmp_path / "lib", tmp_path / "index")
    out = tmp_path / "layers" / "scene0002_foreground.wav"
    done = synth.render(spec(["knocking", "siren"]), out, sample_rate=SR, channels=2)
    assert done.backend == "library+procedural"
    audio, sr = sf.read(out)
    assert sr == SR and audio.shape == (4 * SR, 2) and np.abs(audio).max() > 0.01
    sounds = json.loads(record_path(out).read_text())["sounds"]
    placed = [s for s in sounds if s["backend"] == "library"]
    fallback = [s for s in sounds if s["backend"] == "procedural"]
    assert placed and all(s["label"] == "knocking" and s["path"].endswith("knock_on_door.wav") for s in placed)
    assert [s["label"] for s in fallback] == ["siren"]
    assert "no recording matches 'siren'" in fallback[0]["reason"] and "procedural 'siren'" in fallback[0]["reason"]


def test_same_seed_same_bytes_another_seed_other_choices(tmp_path: Path) -> None:
    for i in range(3):
        one_shot(tmp_path / "lib" / f"knock_on_door_{i}.wav", seed=i)
    tone_loop(tmp_path / "lib" / "room_tone_loop.wav", seconds=3.0)
    synth = synth_for_folder(tmp_path / "lib", tmp_path / "index")
    paths = [tmp_path / f"{name}.wav" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        synth.render(spec(["knocking", "room tone"], seed=seed), path, sample_rate=SR, channels=2)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert record_path(paths[0]).read_text() == record_path(paths[1]).read_text()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_without_an_index_the_backend_says_what_to_run(tmp_path: Path) -> None:
    synth = get_synth(SynthSettings(backend="library", library_index=str(tmp_path / "none")))
    with pytest.raises(BackendUnavailable, match="lvas library index"):
        synth.render(spec(["knocking"]), tmp_path / "x.wav", sample_rate=SR, channels=1)


def test_library_index_command_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one_shot(tmp_path / "lib" / "knock.wav")
    (tmp_path / "lib" / "zero.wav").write_bytes(b"")
    args = ["library", "index", str(tmp_path / "lib"), "--index", str(tmp_path / "index")]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["read"], report["usable"], report["skipped"]) == (2, 1, {"empty": 1})
    assert main(args) == 0
    assert "0 read" in capsys.readouterr().out
    assert main(["library", "index", str(tmp_path / "missing"), "--index", str(tmp_path / "index")]) == 2
    assert "missing: no such folder" in capsys.readouterr().err


def test_the_placed_files_are_read_back_per_scene_for_the_report(tmp_path: Path) -> None:
    from mutagen.oggvorbis import OggVorbis

    from lvas.backends.library import sound_credits
    from lvas.storage.layout import Layout

    path = tmp_path / "lib" / "knock_on_door.ogg"
    path.parent.mkdir()
    sf.write(path, np.concatenate([np.zeros(800), np.hanning(1600)]), SR)
    tags = OggVorbis(path)
    tags["license"], tags["artist"] = "CC-BY-4.0", "A. Recordist"
    tags.save()
    synth = synth_for_folder(tmp_path / "lib", tmp_path / "index")
    layout = Layout(tmp_path / "out")
    synth.render(spec(["knocking", "siren"]), layout.layer("vid", 2, "foreground"), sample_rate=SR, channels=1)
    rows = sound_credits(layout, "vid")
    placed = [r for r in rows if r["backend"] == "library"]
    assert placed and {(r["scene_index"], r["license"], r["attribution"]) for r in placed} == {
        (2, "CC-BY-4.0", "A. Recordist")}
    assert [r["label"] for r in rows if r["backend"] == "procedural"] == ["siren"]


def test_a_library_without_usable_recordings_is_known_before_a_run_starts(tmp_path: Path) -> None:
    from lvas.backends.library_state import with_library_state
    from lvas.settings import Settings

    one_shot(tmp_path / "lib" / "knock.wav")
    one_shot(tmp_path / "other" / "knock.wav")
    settings = Settings(synth=SynthSettings(backend="library", library_index=str(tmp_path / "index"),
                                            library_dir=str(tmp_path / "lib")))
    with pytest.raises(BackendUnavailable, match="lvas library index"):
        with_library_state(settings)
    SoundIndex.open(tmp_path / "index").index([tmp_path / "other"])
    with pytest.raises(BackendUnavailable, match=f"no usable recording under {re.escape(str(tmp_path / 'lib'))}"):
        with_library_state(settings)
    SoundIndex.open(tmp_path / "index").index([tmp_path / "lib"])
    assert with_library_state(settings).synth.library_state


def test_a_prompt_that_says_more_than_the_label_guides_the_choice(tmp_path: Path) -> None:
    one_shot(tmp_path / "lib" / "FEETGravel_Boots On Gravel_AB_01.wav", seed=1)
    one_shot(tmp_path / "lib" / "FEETWood_Heels On Wooden Floor_AB_02.wav", seed=2)
    lib = library(tmp_path / "lib", tmp_path / "index")
    for prompt, want in (("boots crunching on gravel", "Gravel"), ("high heels on a wooden floor", "Wooden")):
        pool, _ = lib.candidates("footsteps", "event", prompt)
        assert want in Path(pool[0].path).name


def test_a_broadcast_wave_description_and_riff_info_are_read(tmp_path: Path) -> None:
    import struct

    path = tmp_path / "take_12.wav"
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(SR), SR)
    bext = b"Heavy wooden door slams shut".ljust(256, b"\0") + b"\0" * 346  # description, then the rest
    info = b"INFO" + b"ICOP" + struct.pack("<I", 10) + b"CC-BY-4.0\0" + b"IART" + struct.pack("<I", 6) + b"J. Doe"
    chunks = b"bext" + struct.pack("<I", len(bext)) + bext + b"LIST" + struct.pack("<I", len(info)) + info
    data = path.read_bytes()
    path.write_bytes(data[:4] + struct.pack("<I", len(data) - 8 + len(chunks)) + data[8:] + chunks)
    assert sf.info(path).frames == SR  # still a valid WAV
    assert read_tags(path) == {"text": "Heavy wooden door slams shut", "license": "CC-BY-4.0", "credit": "J. Doe"}


def test_a_recording_used_beside_a_span_is_left_out_when_another_fits_as_well(tmp_path: Path) -> None:
    first = tone_loop(tmp_path / "lib" / "AMBWind_Wind Loop_AB_01.wav", seconds=5.0)
    second = tone_loop(tmp_path / "lib" / "AMBWind_Wind Loop_AB_02.wav", seconds=4.0)
    lib = library(tmp_path / "lib", tmp_path / "index")
    span = SpanRequest("wind", "wind", "background", 0.0, 3.0)

    def used(seed: int, avoid: frozenset[str]) -> set[str]:
        got = place_recordings(lib, span, sample_rate=SR, channels=1, seed=seed, avoid=avoid)
        return {p.path for p in got.placements}

    assert {str(first)} in [used(seed, frozenset()) for seed in range(8)]  # either may be chosen...
    assert all(used(seed, frozenset({str(first)})) == {str(second)} for seed in range(8))  # ...unless one is taken
    lonely = place_recordings(lib, SpanRequest("wind", "wind", "background", 0.0, 3.0), sample_rate=SR, channels=1,
                              seed=0, avoid=frozenset({str(first), str(second)}))
    assert lonely.placements  # with nothing else that fits, a taken recording is used again


def test_reindexing_the_library_rerenders_what_was_made_from_it(tmp_path: Path) -> None:
    from lvas.backends.library_state import with_library_state
    from lvas.models import VideoRef
    from lvas.pipeline import dub_video_direct, is_finished
    from lvas.settings import Settings
    from lvas.storage.layout import Layout
    from tests.clips import colour_cuts, make_clip

    lib, index_dir = tmp_path / "lib", tmp_path / "index"
    one_shot(lib / "knock_on_door.wav")
    tone_loop(lib / "rain_on_roof_loop.wav", seconds=3.0)
    SoundIndex.open(index_dir).index([lib])
    clip = make_clip(tmp_path / "clip.mp4", colour_cuts([1.5]), seconds=3.0)
    side = tmp_path / "clip.captions.json"
    side.write_text(json.dumps({"segments": [{"start": 0, "end": 1.5, "caption": "rain on a roof"},
                                             {"start": 1.5, "end": 3, "caption": "a door"}],
                                "events": [{"start": 1.8, "end": 2.4, "sound": "door knocking"}]}))
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip", captions_path=str(side))
    plain = Settings(synth=SynthSettings(backend="library", library_index=str(index_dir), library_min_score=0.3,
                                         sample_rate=SR, channels=1))
    assert plain.synth.library_state is None
    s = with_library_state(plain)
    assert s.synth.library_state and s.synth.model_copy(update={"library_state": None}) == plain.synth
    other = Settings()
    assert with_library_state(other) is other  # other backends: untouched

    layout = Layout(tmp_path / "out")
    dub_video_direct(layout, video, s)
    assert is_finished(layout, video, with_library_state(plain))
    SoundIndex.open(index_dir).index([lib])  # nothing changed on disk: same state, still finished
    assert with_library_state(plain) == s and is_finished(layout, video, s)

    one_shot(lib / "knock_on_door_2.wav", seed=3)
    SoundIndex.open(index_dir).index([lib])
    again = with_library_state(plain)
    assert again.synth.library_state != s.synth.library_state
    assert not is_finished(layout, video, again)
    script_marker = layout.read_marker("clip", "script")
    dub_video_direct(layout, video, again)
    assert is_finished(layout, video, again)
    assert layout.read_marker("clip", "script") == script_marker  # only rendering and what follows re-ran

    (lib / "knock_on_door_2.wav").unlink()  # a removed recording changes the state too
    SoundIndex.open(index_dir).index([lib])
    assert with_library_state(plain) == s


def test_the_state_file_gives_the_index_state_without_opening_chroma(tmp_path: Path) -> None:
    import subprocess
    import sys

    from lvas.backends.index_format import STATE_FILE
    from lvas.backends.library_state import state_from_file, with_library_state
    from lvas.settings import Settings

    one_shot(tmp_path / "a" / "knock.wav")
    one_shot(tmp_path / "b" / "door_slam.wav", seed=2)
    index = SoundIndex.open(tmp_path / "index")
    index.index([tmp_path / "a", tmp_path / "b"])
    state_file = tmp_path / "index" / STATE_FILE
    assert state_file.is_file()
    for library_dir in (None, str(tmp_path / "a")):
        synth = SynthSettings(backend="library", library_index=str(tmp_path / "index"), library_dir=library_dir)
        from_file = state_from_file(synth)
        assert from_file == index.state([library_dir] if library_dir else None)
        assert with_library_state(Settings(synth=synth)).synth.library_state == from_file
    only_a = state_from_file(SynthSettings(backend="library", library_index=str(tmp_path / "index"),
                                           library_dir=str(tmp_path / "a")))
    assert only_a != state_from_file(SynthSettings(backend="library", library_index=str(tmp_path / "index")))

    # a run start reads the file: Chroma (about a second to import) is not loaded
    code = ("import sys; from lvas.backends.library_state import with_library_state; from lvas.settings import "
            f"Settings, SynthSettings; s = with_library_state(Settings(synth=SynthSettings(backend='library', "
            f"library_index={str(tmp_path / 'index')!r}))); print(s.synth.library_state, 'chromadb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    whole = state_from_file(SynthSettings(backend="library", library_index=str(tmp_path / "index")))
    assert out == [whole, "False"]

    # without the file (an index stopped half-way, a server) the index itself gives the same state
    state_file.write_text(json.dumps({"fingerprint": "another model", "folders": {}}))
    synth = SynthSettings(backend="library", library_index=str(tmp_path / "index"))
    assert state_from_file(synth) is None
    state_file.unlink()
    assert with_library_state(Settings(synth=synth)).synth.library_state == whole

    def interrupted(path: Path) -> tuple[np.ndarray, int, float, int]:
        raise KeyboardInterrupt

    one_shot(tmp_path / "a" / "knock_2.wav", seed=5)
    with pytest.raises(KeyboardInterrupt):
        index.index([tmp_path / "a"], reader=interrupted)
    assert not state_file.exists()  # an index stopped half-way leaves no state file to trust
