"""Dataset-scale operations on a real Dask cluster under a Prefect test server.

Endpoint down for part of a run and `rerun --failed`, the rerun of one named scene, the incremental
(scheduled) run, the served deployment's kept cluster, a killed worker, and the refusal of a
concurrent run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import soundfile as sf

from lvas.errors import RunLocked
from lvas.settings import AgentSettings, RunSettings, Settings
from lvas.storage.layout import Layout
from lvas.storage.lock import RunLock
from lvas.storage.rerun import plan_rerun
from lvas.storage.runs import read_sources
from lvas.storage.status import collect, rollup
from tests.clips import colour_cuts, make_clip
from tests.fake_llm_server import FakeLLMServer, Reply, as_reply, role_of
from tests.harness import listening, run_dub

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

FAST = RunSettings(task_retries=0, retry_delay_s=0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    make_clip(d / "a.mp4", colour_cuts([1.0], seed=1), seconds=2.0)
    make_clip(d / "b.mp4", colour_cuts([0.8], seed=2), seconds=2.0)
    return d


class Endpoint:
    """Valid answers for every agent role; while ``down`` the Designer's calls get 503."""

    def __init__(self) -> None:
        self.down = False
        self.design_calls = 0

    def __call__(self, body: dict) -> Reply:
        role = role_of(body)
        if role == "design":
            self.design_calls += 1
            if self.down:
                return Reply(content="service unavailable", status=503)
        answers = {
            "global": {"description": "a park by day", "timeline": []},
            "caption": {"background": "a park", "entity": "a dog", "action": "runs", "summary": "a dog runs in a park"},
            "merge": {"merge": False, "reason": "a new place", "caption": {"summary": "a dog runs"}},
            "design": {"reasoning": "dog, park", "audio": [{"description": "dog barking"}],
                       "background": [{"description": "birds in a park"}], "volume": 0.8},
            "map": {"mapping": []},
        }
        return as_reply(answers.get(role, {"verdict": "final", "feedback": ""}))


def test_endpoint_down_then_rerun_failed_touches_nothing_else(prefect_dask: str, clips: Path, tmp_path: Path) -> None:
    endpoint = Endpoint()
    with FakeLLMServer(responder=endpoint) as srv:
        agents = AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_API_KEY",
                               max_retries=0, retry_backoff_s=0, timeout_s=5)
        s = Settings(agents=agents, run=FAST)
        layout = Layout(tmp_path)
        assert run_dub(prefect_dask, [clips / "a.mp4"], tmp_path, s).is_completed()
        done_video = next(iter(rollup(collect(layout)).values()))
        dubbed = Path(done_video.outputs["dubbed"])
        before = (dubbed.read_bytes(), dubbed.stat().st_mtime_ns)

        endpoint.down = True
        state = run_dub(prefect_dask, [clips / "a.mp4", clips / "b.mp4"], tmp_path, s)
        assert state.is_failed()
        states = {Path(v.source).name: v for v in rollup(collect(layout)).values()}
        assert states["b.mp4"].state == "failed" and states["b.mp4"].stage == "design"
        assert "503" in states["b.mp4"].error or "unavailable" in states["b.mp4"].error.lower()
        assert states["a.mp4"].state == "completed"

        endpoint.down = False
        calls_before = endpoint.design_calls
        plan = plan_rerun(layout, failed=True, videos=[], scenes=[])
        assert plan == [states["b.mp4"].video_id]
        assert run_dub(prefect_dask, [layout.sources()], tmp_path, s, only=plan).is_completed()
        assert endpoint.design_calls > calls_before
        assert rollup(collect(layout))[states["b.mp4"].video_id].state == "completed"
        assert (dubbed.read_bytes(), dubbed.stat().st_mtime_ns) == before


def test_rerun_named_scene_redoes_only_that_scene(prefect_dask: str, clips: Path, tmp_path: Path) -> None:
    s = Settings(run=FAST)
    layout = Layout(tmp_path)
    assert run_dub(prefect_dask, [clips / "a.mp4"], tmp_path, s).is_completed()
    (vid,) = rollup(collect(layout))
    events = sorted(layout.video_dir(vid).glob("events/*.wav"))
    assert events, "the offline design of a moving outdoor-coloured clip should sound"
    stamps = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in events}
    assert plan_rerun(layout, failed=False, videos=[vid], scenes=[0]) == [vid]
    assert run_dub(prefect_dask, [layout.sources()], tmp_path, s, only=[vid]).is_completed()
    renders = {r.scene: r.state for r in collect(layout) if r.stage == "render"}
    assert renders[0] == "completed"  # the scene was rendered again on purpose...
    assert len(renders) > 1 and all(state == "cached" for k, state in renders.items() if k != 0)  # ...only it
    for p in events:  # its events did not change: each render is reused by its cache key
        assert (p.read_bytes(), p.stat().st_mtime_ns) == stamps[p]


def test_incremental_run_only_does_new_videos(prefect_dask: str, clips: Path, tmp_path: Path) -> None:
    src = tmp_path / "incoming"
    src.mkdir()
    os.link(clips / "a.mp4", src / "a.mp4")
    out = tmp_path / "out"
    s = Settings(run=RunSettings(task_retries=0, stages=("storyboard", "script")))
    assert run_dub(prefect_dask, [src], out, s).is_completed()
    os.link(clips / "b.mp4", src / "b.mp4")
    first = {(r.video_id, r.stage): r.finished_at for r in collect(Layout(out))}
    state = run_dub(prefect_dask, [src], out, s)
    assert state.is_completed() and "1 of 1 videos done" in state.message
    recs = collect(Layout(out))
    assert len({r.video_id for r in recs}) == 2
    for r in recs:
        if (r.video_id, r.stage) in first:
            assert r.finished_at == first[(r.video_id, r.stage)]  # not even looked at again


def test_concurrent_run_is_refused(prefect_dask: str, clips: Path, tmp_path: Path) -> None:
    with RunLock(Layout(tmp_path).lock()):
        state = run_dub(prefect_dask, [clips / "a.mp4"], tmp_path, Settings(run=FAST))
    assert state.is_failed()
    with pytest.raises(RunLocked):
        state.result()
    assert not (tmp_path / "videos").exists()


def test_killed_worker_run_finishes_or_reruns_cleanly(clips: Path, tmp_path: Path, prefect_dask: str) -> None:
    """SIGKILL a worker process mid-run: Dask reschedules its tasks (the nanny restarts it); whatever
    did not finish is completed by a rerun, and no artifact is half-written or lost."""
    from distributed import Client

    from lvas.flows.runtime import dask_cluster

    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        make_clip(src / f"v{i}.mp4", colour_cuts([0.7, 1.5], seed=10 + i), seconds=2.5)
    out = tmp_path / "out"
    s = Settings(run=FAST)
    with dask_cluster(RunSettings(workers=2)) as address, Client(address) as client:
        pids = list(client.run(os.getpid).values())

        def killer() -> None:
            deadline = time.time() + 60
            while time.time() < deadline and not list(out.glob("videos/*/.done/script.json")):
                time.sleep(0.1)
            os.kill(pids[0], signal.SIGKILL)

        t = threading.Thread(target=killer)
        t.start()
        first = run_dub(address, [src], out, s)
        t.join()
        if not first.is_completed():
            plan = plan_rerun(Layout(out), failed=True, videos=[], scenes=[])
            assert run_dub(address, [Layout(out).sources()], out, s, only=plan).is_completed()
    states = rollup(collect(Layout(out)))
    assert len(states) == 4 and all(v.state == "completed" for v in states.values())
    assert not list(out.rglob("*.part-*"))
    for v in states.values():
        info = sf.info(v.outputs["mix"])
        assert info.duration == pytest.approx(2.5, abs=0.05)
        assert Path(v.outputs["dubbed"]).stat().st_size > 0


def test_run_that_loses_its_cluster_fails_and_rerun_finishes_every_video_left(
        clips: Path, tmp_path: Path, prefect_dask: str) -> None:
    """The cluster goes away mid-run (closed, as `make serve` closes its kept cluster when it stops
    during a run): the run ends Failed and counts the videos it did not finish (it said "Completed, 0
    failed"), and `lvas rerun --failed` plans every one of them, also those that never started,
    and finishes them; the video done before is not touched."""
    import dask
    from distributed import LocalCluster

    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        make_clip(src / f"v{i}.mp4", colour_cuts([0.7], seed=30 + i), seconds=1.5)
    out = tmp_path / "out"
    s = Settings(run=RunSettings(task_retries=0, retry_delay_s=0, workers=1, batch_videos=1))
    # the flow's Dask client waits this long for its scheduler to come back (30 s by default)
    with (dask.config.set({"distributed.comm.timeouts.connect": "3s"}),
          LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster):

        def close_at_first_mix() -> None:  # recorded completed: its marker is written just before
            deadline = time.time() + 120
            while time.time() < deadline and not any(
                    r.stage == "mix" and r.state == "completed" for r in collect(Layout(out))):
                time.sleep(0.05)
            cluster.close()

        t = threading.Thread(target=close_at_first_mix)
        t.start()
        first = run_dub(cluster.scheduler_address, [src], out, s)
        t.join()
    states = rollup(collect(Layout(out)))
    done = sorted(v for v, st in states.items() if st.state == "completed")
    assert first.is_failed(), first.message
    assert f"{len(done)} of 6 videos done, 0 failed, {6 - len(done)} unfinished" in first.message
    assert 1 <= len(done) < 6 and len(states) < 6, states  # some never started: no record at all
    before = {p: p.read_bytes() for v in done for p in (out / "videos" / v).rglob("*") if p.is_file()}
    plan = plan_rerun(Layout(out), failed=True, videos=[], scenes=[])
    assert sorted(plan) == sorted({r["video_id"] for r in read_sources(Layout(out))} - set(done))
    assert run_dub(prefect_dask, [Layout(out).sources()], out, s, only=plan).is_completed()
    assert all(st.state == "completed" for st in rollup(collect(Layout(out))).values())
    assert len(rollup(collect(Layout(out)))) == 6
    assert {p: p.read_bytes() for p in before} == before


def test_gpu_backend_without_gpu_worker_says_so(prefect_dask: str, clips: Path, tmp_path: Path) -> None:
    from lvas.errors import BackendUnavailable
    from lvas.settings import SynthSettings

    s = Settings(run=FAST, synth=SynthSettings(backend="simulated-gpu", simulated_latency_s=0))
    state = run_dub(prefect_dask, [clips / "a.mp4"], tmp_path, s)
    assert state.is_failed()
    with pytest.raises(BackendUnavailable, match="no Dask worker declares the resource 'GPU'"):
        state.result()


def test_gpu_work_is_placed_only_on_gpu_workers(prefect_dask: str, clips: Path, tmp_path: Path) -> None:
    from lvas.flows.runtime import dask_cluster
    from lvas.settings import SynthSettings

    s = Settings(run=FAST, synth=SynthSettings(backend="simulated-gpu", simulated_latency_s=0.05))
    with dask_cluster(RunSettings(workers=1, gpu_workers=1)) as address:
        assert run_dub(address, [clips / "a.mp4", clips / "b.mp4"], tmp_path, s).is_completed()
    recs = collect(Layout(tmp_path))
    renders = [r for r in recs if r.stage == "render"]
    assert renders and all(r.worker.startswith("gpu-") for r in renders)
    assert all(r.worker for r in recs)  # every unit says which Dask worker ran it


def _page_faults_of_big_arrays() -> int:
    """Minor page faults of this process while 40 arrays of 4 MB are made and freed in turn."""
    import resource

    import numpy as np

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        np.ones(512 * 1024).sum()  # 4 MB, 1024 pages
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_local_workers_run_without_the_dask_profiler(monkeypatch: pytest.MonkeyPatch) -> None:
    """QUIET_ENV reaches the workers although this process imported dask before setting it (a
    nanny forwards its process's config): no sampling profiler taking CPU and memory; and the
    scheduler keeps only a short log of its messages. And the workers' malloc keeps glibc's
    adaptive mmap threshold (Dask's nannies export MALLOC_TRIM_THRESHOLD_, which turns it off):
    arrays of megabytes made and freed in turn reuse memory instead of faulting in new pages."""
    import dask
    from distributed import Client

    from lvas.flows.runtime import QUIET_ENV, dask_cluster

    for name in [*QUIET_ENV, "MALLOC_TRIM_THRESHOLD_"]:  # as in a process that has not started a cluster yet
        monkeypatch.delenv(name, raising=False)
    dask.config.refresh()  # what any process that imported dask before has: the defaults
    assert dask.config.get("distributed.worker.profile.enabled") is True
    with dask_cluster(RunSettings(workers=1)) as address, Client(address) as client:
        seen = client.run(lambda dask_worker: (dask.config.get("distributed.worker.profile.enabled"),
                                               {k: c.callback_time for k, c in dask_worker.periodic_callbacks.items()}))
        (faults,) = client.run(_page_faults_of_big_arrays).values()
        for i in range(40):  # one message to the worker each
            assert client.submit(abs, -i, pure=False).result() == i
        logged = client.run_on_scheduler(
            lambda dask_scheduler: [len(b.recent_message_log) for b in dask_scheduler.stream_comms.values()])
    ((enabled, callbacks),) = seen.values()
    assert enabled is False
    assert "profile" not in callbacks and "profile-cycle" not in callbacks
    assert callbacks["memory_monitor"] == 1000  # ms; Dask's default polls psutil every 100 ms
    assert faults < 10 * 1024  # 4 MB is 1024 pages: with Dask's setting, each array faults all of them in
    # the scheduler's developer log of what it sent each worker (every task's call, unpickled in
    # the flow process) keeps the last 20 batches, not Dask's 1000: a dataset run's memory stays flat
    assert logged and 0 < max(logged) <= 20


def test_dask_config_for_a_scheduler_and_workers_you_start_sets_what_the_local_cluster_sets() -> None:
    """deployments/dask/lvas.yaml (DASK_CONFIG for `dask scheduler` and `dask worker`, README) keeps
    the scheduler's message log short and leaves MALLOC_TRIM_THRESHOLD_ out of the workers'
    environment (Dask's nanny drops a variable whose value is None), as the local cluster does."""
    import dask
    import distributed  # noqa: F401  (adds its defaults to Dask's)

    from lvas.flows.runtime import QUIET_ENV

    folder = Path(__file__).resolve().parents[1] / "deployments" / "dask"
    yours = dask.config.collect(paths=[str(folder)], env={})
    cfg = yours["distributed"]
    assert cfg["admin"]["low-level-log-length"] == int(QUIET_ENV["DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH"])
    assert cfg["nanny"]["pre-spawn-environ"] == {"MALLOC_TRIM_THRESHOLD_": None}
    environ = dask.config.merge(*dask.config.defaults, yours)["distributed"]["nanny"]["pre-spawn-environ"]
    assert environ["MALLOC_TRIM_THRESHOLD_"] is None and environ["OMP_NUM_THREADS"] == 1  # Dask's others kept


FORK_PROBE = """
import json, os, sys, time
from distributed import Client
from lvas.flows.runtime import dask_cluster
from lvas.settings import RunSettings

def probe():
    return os.environ.get("LVAS_PROBE"), "lvas.pipeline" in sys.modules, "prefect" in sys.modules, os.getpid()

seen = {}
for mark in ("first", "second"):
    os.environ["LVAS_PROBE"] = mark
    with dask_cluster(RunSettings(workers=2)) as address, Client(address) as client:
        seen[mark] = sorted(client.run(probe).values())
        if mark == "second":
            os.kill(seen["second"][0][3], 9)
            deadline = time.time() + 60
            while time.time() < deadline:
                now = sorted(client.run(probe, on_error="ignore").values())
                if len(now) == 2 and seen["second"][0][3] not in [p for *_, p in now]:
                    break
                time.sleep(0.2)
            seen["restarted"] = now
print(json.dumps(seen))
"""


def test_local_workers_are_forked_with_the_stages_imported_and_their_clusters_environment() -> None:
    """The local cluster forks its workers from a fork server that imported the stages' modules
    (not Prefect, which reads its settings when imported); the fork server outlives its cluster, so
    each cluster's workers get that cluster's environment from their nannies; a killed worker is
    restarted the same way. In a fresh process: the fork server is one per process."""
    import json
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "LVAS_PROBE"}
    done = subprocess.run([sys.executable, "-c", FORK_PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    for mark in ("first", "second"):
        assert [(m, stages, prefect) for m, stages, prefect, _ in seen[mark]] == [(mark, True, False)] * 2
    restarted = [w for w in seen["restarted"] if w not in seen["second"]]
    assert len(seen["restarted"]) == 2 and len(restarted) == 1
    assert [(m, stages) for m, stages, _, _ in restarted] == [("second", True)]


class _FakeCUDACluster:
    """Stands in for dask_cuda.LocalCUDACluster (no GPU here): records how it was made."""

    made: ClassVar[list[dict]] = []

    def __init__(self, **kwargs: object) -> None:
        self.kwargs, self.closed = kwargs, False
        self.scheduler_address = "tcp://127.0.0.1:8786"
        _FakeCUDACluster.made.append({"cluster": self, **kwargs})

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(("gpu_workers", "devices", "cuda", "expected"), [
    (0, 2, True, 2),  # no count asked: one worker per device
    (1, 2, True, 1),
    (5, 2, True, 2),  # never more workers than devices
    (1, 2, False, None),  # dask-cuda installed but no CUDA: plain local workers
])
def test_local_gpus_get_a_local_cuda_cluster(monkeypatch: pytest.MonkeyPatch, gpu_workers: int, devices: int,
                                              cuda: bool, expected: int | None) -> None:
    """The LocalCUDACluster branch, which cannot run here: with dask-cuda importable and CUDA
    present, ``dask_cluster`` starts one (each worker declaring GPU=1, loopback only), yields its
    scheduler and closes it; without CUDA it falls back to plain local workers."""
    import importlib.machinery
    import sys
    import types

    import torch

    import lvas.flows.runtime as runtime

    fake = types.ModuleType("dask_cuda")
    fake.__spec__ = importlib.machinery.ModuleSpec("dask_cuda", None)
    fake.LocalCUDACluster = _FakeCUDACluster  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dask_cuda", fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: devices)
    _FakeCUDACluster.made.clear()
    run = RunSettings(gpu_workers=gpu_workers)
    if expected is None:
        assert runtime._local_cuda_cluster(run) is None
        return
    with runtime.dask_cluster(run) as address:
        assert address == "tcp://127.0.0.1:8786"
    (made,) = _FakeCUDACluster.made
    assert made["n_workers"] == expected and made["resources"] == {"GPU": 1}
    assert made["host"] == "127.0.0.1" and str(made["dashboard_address"]).startswith("127.0.0.1:")
    assert made["cluster"].closed


def test_no_dask_cuda_means_no_cuda_cluster_and_no_torch_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without dask-cuda the check stops before torch (importing it costs seconds at start-up)."""
    import importlib.util
    import sys
    import types

    import lvas.flows.runtime as runtime

    class Untouchable(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"torch.{name} was used although dask-cuda is absent")

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "dask_cuda" else real(name, *a))
    monkeypatch.setitem(sys.modules, "torch", Untouchable("torch"))
    assert runtime._local_cuda_cluster(RunSettings(gpu_workers=1)) is None


def test_prefect_ui_names_runs_and_shows_each_videos_scenes_outputs_and_progress(
        prefect_dask: str, clips: Path, tmp_path: Path) -> None:
    """What a user watching the UI sees: run names with the video (and scene), a scene table per
    video described by links to its outputs, the run's video table and its progress."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    from lvas.tasks.mix import artifact_key

    state = run_dub(prefect_dask, [clips / "a.mp4"], tmp_path, Settings(run=FAST))
    assert state.is_completed()
    (vid,) = {r.video_id for r in collect(Layout(tmp_path))}
    key = artifact_key(vid)
    run = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        names = {t.name for t in client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [run]}))}
        subflows = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run])))
        wanted = [f"scenes-{key}", "dub-videos", "dub-progress"]
        arts = {a.key: a for a in client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=wanted),
                                           flow_run_id=ArtifactFilterFlowRunId(any_=[run])), limit=50)}
    assert {f"storyboard {vid}", f"script {vid}", f"design {vid}", f"mix {vid}"} <= names
    assert any(n in (f"render {vid} scene 0", f"render {vid} scenes 0-1") for n in names), names
    assert sorted(f.name.split()[0] for f in subflows) == ["design-refine", "reflect"], [f.name for f in subflows]
    assert any(f.name.startswith(f"design-refine {vid} (") for f in subflows)
    assert set(arts) == set(wanted)
    assert arts[f"scenes-{key}"].type == "table" and "summary" in str(arts[f"scenes-{key}"].data)
    outputs = str(arts[f"scenes-{key}"].description)  # links to the outputs
    for name in ("mix", "dubbed", "report"):
        path = Path(rollup(collect(Layout(tmp_path)), "mix")[vid].outputs[name]).resolve()
        assert path.exists() and f"({path.as_uri()})" in outputs
    assert arts["dub-progress"].type == "progress" and float(arts["dub-progress"].data) == 100.0
    assert vid in str(arts["dub-videos"].data)


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    """`deployments/serve.py` in its own process group, returned once it polls for runs."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "deployments" / "serve.py")], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if any("polling for scheduled runs" in ln for ln in list(lines)):
            return proc, lines
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("deployments/serve.py did not start serving:\n" + "".join(lines)[-3000:])


async def _run_deployment(api: str, name: str, timeout: float = 240) -> tuple[str, str]:
    """Start a run of deployment ``name`` now, as its schedule would, and wait for its final state:
    (its type, its message)."""
    import asyncio

    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api) as client:
        deployment = await client.read_deployment_by_name(name)
        run = await client.create_flow_run_from_deployment(deployment.id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = (await client.read_flow_run(run.id)).state
            if state is not None and state.is_final():
                return state.type.value, state.message or ""
            await asyncio.sleep(0.5)
    raise AssertionError(f"the run of {name} did not end within {timeout:.0f} s")


@pytest.fixture
def prefect_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Prefect server of its own (as `make ui` runs one) for a serving process: yields its API URL.
    This process's Prefect and cluster settings are left out of the environment meanwhile."""
    from lvas.flows.runtime import LocalPrefectServer

    for k in [k for k in os.environ if k.startswith(("PREFECT_", "LVAS_RUN__"))]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    server = LocalPrefectServer()
    server.launch()
    try:
        server.wait_healthy(timeout=120)
        yield server.api_url
    finally:
        server.stop()


def _kept_cluster(lines: list[str]) -> str:
    """The kept cluster's scheduler address, from what `deployments/serve.py` printed."""
    kept = [ln.split(" at ")[1].split()[0] for ln in list(lines) if "local Dask cluster at" in ln]
    assert kept, "".join(lines)[-3000:]
    return kept[0]


def _gone(address: str) -> bool:
    """True when nothing listens at the Dask scheduler ``address`` any more."""
    from distributed.comm import parse_address, parse_host_port

    return not listening(*parse_host_port(parse_address(address)[1]), timeout=5)


def test_served_runs_attach_to_the_one_kept_cluster_and_dub_only_new_videos(
        clips: Path, tmp_path: Path, prefect_server: str) -> None:
    """`make serve` starts one local cluster and every scheduled run attaches to it (no cluster of
    its own to start and stop); the second run, after a video arrived, dubs only that video; stopping
    serve (Ctrl-C) stops the cluster."""
    import asyncio

    from distributed import Client

    src, out = tmp_path / "incoming", tmp_path / "out"
    src.mkdir()
    os.link(clips / "a.mp4", src / "a.mp4")
    proc, lines = _serve({**os.environ, "PREFECT_API_URL": prefect_server, "LVAS_SOURCES": str(src),
                          "LVAS_OUT": str(out), "LVAS_CRON": "0 2 1 1 *", "PREFECT_RUNNER_POLL_FREQUENCY": "1"})
    try:
        kept = _kept_cluster(lines)
        assert asyncio.run(_run_deployment(prefect_server, "scheduled-dub/nightly-dub")) == (
            "COMPLETED", f"1 of 1 videos done, 0 failed (lvas status {out})")
        os.link(clips / "b.mp4", src / "b.mp4")
        assert asyncio.run(_run_deployment(prefect_server, "scheduled-dub/nightly-dub")) == (
            "COMPLETED", f"1 of 1 videos done, 0 failed (lvas status {out})")
        with Client(kept, timeout=30) as client:
            ran = client.run_on_scheduler(
                lambda dask_scheduler: {name: p.state_counts["memory"]  # tasks finished, ever
                                        for name, p in dask_scheduler.task_prefixes.items()})
            workers = {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}
        assert ran.get("mix") == 2 and ran.get("storyboard") == 2, ran  # both runs ran on the kept cluster
        recs = [r for r in collect(Layout(out)) if r.stage == "mix"]
        assert len({r.video_id for r in recs}) == 2 and all(r.state == "completed" for r in recs)
        assert {r.worker for r in recs} <= workers
        assert len({r.run_id for r in recs}) == 2  # b in the second run; a not done again
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    assert _gone(kept)


def test_serve_stopped_by_sigterm_stops_its_kept_cluster(tmp_path: Path, prefect_server: str) -> None:
    """A service manager stops `make serve` with SIGTERM (Ctrl-C: the test above): it exits at once
    and takes its kept cluster down with it, whether or not Prefect's runner had taken SIGTERM over
    yet (before, a SIGTERM in that moment killed it where it stood)."""
    import psutil

    proc, lines = _serve({**os.environ, "PREFECT_API_URL": prefect_server, "LVAS_SOURCES": str(tmp_path),
                          "LVAS_OUT": str(tmp_path / "out")})
    kept = _kept_cluster(lines)
    cluster = psutil.Process(proc.pid).children(recursive=True)  # its nannies and workers
    assert len(cluster) >= 2, cluster
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)  # 0 once Prefect's runner serves, 1 ("terminated") before that
    assert code in (0, 1), f"exit {code}: " + "".join(lines)[-3000:]
    assert _gone(kept)
    _, alive = psutil.wait_procs(cluster, timeout=10)
    assert not alive, [" ".join(p.cmdline()) for p in alive]


def test_serve_names_a_wrong_cluster_mode() -> None:
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api", "LVAS_CLUSTER": "shared"}
    run = subprocess.run([sys.executable, str(ROOT / "deployments" / "serve.py")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1
    assert "LVAS_CLUSTER='shared': expected one of kept, per-run" in run.stderr


def test_serve_help_teaches_its_settings_and_arguments_are_refused() -> None:
    serve = [sys.executable, str(ROOT / "deployments" / "serve.py")]
    shown = subprocess.run([*serve, "--help"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0
    assert all(name in shown.stdout for name in ("LVAS_SOURCES", "LVAS_CRON", "LVAS_CLUSTER", "prefect deployment run"))
    wrong = subprocess.run([*serve, "incoming"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "takes no arguments" in wrong.stderr
