"""tasks/lean.py: the two per-task Prefect costs lvas removes, and that nothing else changes.

These tests also pin the Prefect internals the module relies on: an upgrade that moves them fails
here instead of silently bringing the cost back.
"""

from __future__ import annotations

import os
import ssl

import pytest
from lvas.tasks.lean import LeanDaskTaskRunner, Named, _settings_not_shipped, reuse_api_tls_contexts
from prefect import flow, task


@task(name="triple")
def triple(i: int) -> int:
    return 3 * i


@flow(name="triple-all")
def triple_all(n: int) -> list[int]:
    return [f.result() for f in triple.map(range(n))] + [triple.with_options(retries=1).submit(5).result()]


def test_api_clients_share_one_verified_tls_context() -> None:
    from prefect.client.orchestration import SyncPrefectClient

    reuse_api_tls_contexts()
    reuse_api_tls_contexts()  # idempotent
    a = SyncPrefectClient("https://prefect.example.invalid/api")
    b = SyncPrefectClient("https://prefect.example.invalid/api")
    ctx_a, ctx_b = (c._client._transport._pool._ssl_context for c in (a, b))
    assert ctx_a is ctx_b
    assert ctx_a.verify_mode == ssl.CERT_REQUIRED and ctx_a.check_hostname  # verification unchanged
    assert ssl.create_default_context() is not ssl.create_default_context()  # the ssl module itself untouched


def test_settings_context_is_left_out_only_inside_the_lean_submit() -> None:
    from prefect.context import SettingsContext, serialize_context

    outer = SettingsContext.get()
    assert serialize_context()["settings_context"]  # stock: the whole settings model travels
    with _settings_not_shipped():
        assert serialize_context()["settings_context"] == {}
        assert SettingsContext.get() is not outer
        assert SettingsContext.get().settings is outer.settings  # code inside still sees the same settings
    assert SettingsContext.get() is outer
    assert serialize_context()["settings_context"]


@pytest.mark.usefixtures("prefect_dask")
def test_lean_runner_runs_tasks_with_the_flows_api(prefect_dask: str) -> None:
    from prefect import flow, task

    @task
    def api_url(i: int) -> str:
        from prefect.settings import get_current_settings

        return str(get_current_settings().api.url)

    from prefect.context import FlowRunContext

    @flow(task_runner=LeanDaskTaskRunner(address=prefect_dask))
    def probe() -> tuple[list[str], bool | None]:
        urls = [f.result() for f in api_url.map(range(3))]
        return urls, FlowRunContext.get().task_runner._lean

    urls, lean = probe()
    assert lean is True  # the workers were started with this process's PREFECT_API_URL
    assert urls == [os.environ["PREFECT_API_URL"]] * 3  # and the tasks still talk to it


def test_workers_with_another_api_get_the_settings_shipped() -> None:
    from lvas.tasks.lean import workers_share_api

    class FakeClient:
        def __init__(self, urls: dict[str, str | None]) -> None:
            self.urls = urls

        def run(self, fn):
            return self.urls

    os.environ["PREFECT_API_URL"], old = "http://127.0.0.1:1/api", os.environ.get("PREFECT_API_URL")
    try:
        assert workers_share_api(FakeClient({"a": "http://127.0.0.1:1/api", "b": "http://127.0.0.1:1/api"}))
        assert not workers_share_api(FakeClient({"a": "http://127.0.0.1:1/api", "b": None}))
        assert not workers_share_api(FakeClient({}))
    finally:
        if old is None:
            os.environ.pop("PREFECT_API_URL")
        else:
            os.environ["PREFECT_API_URL"] = old


def test_every_task_and_the_flows_travel_by_name() -> None:
    """The lean runner sends lvas's tasks and flows, and ``with_options`` copies of them, as their
    module, name and changed options: small, no code by value, the same object on the worker."""
    import pickle

    import cloudpickle
    from lvas.tasks.lean import Named
    from prefect import Flow, Task

    modules = (flows.dub, flows.design_refine, tasks.design, tasks.mix, tasks.render, tasks.script,
               tasks.storyboard)
    found = [t for m in modules for t in vars(m).values()
             if isinstance(t, (Task, Flow)) and t.fn.__module__ == m.__name__]
    assert len(found) == 11
    for t in found:
        ref = Named.of(t)
        assert ref is not None and not ref.changes and ref.resolve() is t
        copy = t.with_options(retries=7) if isinstance(t, Task) else t.with_options(
            task_runner=LeanDaskTaskRunner(address="tcp://127.0.0.1:1"))
        blob = cloudpickle.dumps(Named.of(copy))
        assert b"_make_function" not in blob, t.name  # cloudpickle's marker of a function shipped by value
        assert len(blob) < 1500, (t.name, len(blob))  # by value: 2-10 kB (the flows' parameter schemas)
        ref = pickle.loads(blob)
        back = ref.resolve()
        assert type(back) is type(t) and back is not t and back.fn is t.fn and back.name == t.name
        assert ref.resolve() is back  # rebuilt once per process
        if isinstance(t, Task):
            assert back.retries == 7 and t.retries != 7
        else:
            assert back.task_runner.address == "tcp://127.0.0.1:1" and t.task_runner is not back.task_runner


def test_only_what_another_process_can_import_travels_by_name(tmp_path) -> None:
    import importlib.util
    import sys

    from lvas.tasks.lean import Named, _importable
    from prefect import task

    @task
    def local(i: int) -> int:
        return i

    assert Named.of(local) is None  # not a module attribute: shipped by value, as stock Prefect does
    script = tmp_path / "made_up.py"
    script.write_text("from prefect import task\n\n@task\ndef t():\n    return 1\n")
    spec = importlib.util.spec_from_file_location("__prefect_loader_x__", script)  # as Prefect loads entrypoints
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert Named.of(module.t) is None
        assert not _importable("__main__") and _importable("lvas.tasks.lean") and _importable("lvas.flows.dub")
    finally:
        sys.modules.pop(spec.name)


@pytest.mark.usefixtures("prefect_dask")
def test_lean_runner_submits_an_importable_function_keyed_by_task_run(prefect_dask: str, monkeypatch) -> None:
    """prefect_dask wraps every call in a new closure that cloudpickle ships by value; lvas does not."""
    import cloudpickle
    from distributed import Client
    from prefect import flow, task

    submitted: list[tuple] = []
    stock = Client.submit

    def spy(self, func, *args, **kwargs):
        submitted.append((func, kwargs.get("key"), kwargs.get("task_run_id")))
        return stock(self, func, *args, **kwargs)

    monkeypatch.setattr(Client, "submit", spy)

    @task(name="double")
    def double(i: int) -> int:
        return 2 * i

    @flow(task_runner=LeanDaskTaskRunner(address=prefect_dask))
    def probe() -> tuple[list[int], list[str]]:
        futures = double.map(range(3))
        return [f.result() for f in futures], [str(f.task_run_id) for f in futures]

    results, run_ids = probe()
    assert results == [0, 2, 4]
    assert [f for f, _, _ in submitted] == [tasks.lean.run_task] * 3
    assert b"_make_function" not in cloudpickle.dumps(tasks.lean.run_task)  # shipped as an import
    assert sorted(key for _, key, _ in submitted) == sorted(f"double-{i}" for i in run_ids)


@pytest.mark.usefixtures("prefect_dask")
def test_lean_runner_sends_importable_tasks_and_flows_by_name(prefect_dask: str, monkeypatch) -> None:
    """Each submitted call names its task and its context names the flow (a copy with its own task
    runner here); the workers rebuild both and run the tasks as usual."""
    import cloudpickle
    from distributed import Client

    sent: list[tuple] = []
    stock = Client.submit

    def spy(self, func, *args, **kwargs):
        sent.append((kwargs["task"], kwargs["context"]["flow_run_context"]["flow"],
                     len(cloudpickle.dumps(kwargs))))
        return stock(self, func, *args, **kwargs)

    monkeypatch.setattr(Client, "submit", spy)
    assert triple_all.with_options(task_runner=LeanDaskTaskRunner(address=prefect_dask))(3) == [0, 3, 6, 15]
    assert len(sent) == 4
    assert all(isinstance(t, Named) and t.name == "triple" for t, _, _ in sent)
    assert [bool(t.changes) for t, _, _ in sent] == [False, False, False, True]  # the retries=1 copy
    assert all(isinstance(f, Named) and f.name == "triple_all" and f.changes for _, f, _ in sent)
    assert max(size for _, _, size in sent) < 8000  # the whole call, now without code shipped by value


def test_settings_without_heartbeats_are_made_once_per_settings_object_and_not_kept_after() -> None:
    """A subflow runs without heartbeats (tasks.lean.without_heartbeats). The copy is validated once
    per settings object; a worker of a kept cluster sees many objects over its life (one per task
    when the settings are shipped), and only the last one is held."""
    import gc
    import weakref

    from lvas.tasks import lean
    from prefect.settings import Settings

    objects = [Settings(flows={"heartbeat_frequency": 30}) for _ in range(3)]
    first = lean._quiet(objects[0])
    assert first.flows.heartbeat_frequency is None and objects[0].flows.heartbeat_frequency == 30
    assert lean._quiet(objects[0]) is first
    gone = weakref.ref(objects[0])
    for s in objects[1:]:
        assert lean._quiet(s).flows.heartbeat_frequency is None
    del objects[0], first
    gc.collect()
    assert gone() is None and len(lean._QUIET) == 1
