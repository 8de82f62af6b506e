"""Per-task-run costs of Prefect 3.8 on Dask that lvas removes, measured in bench/RESULTS.md.

Profiling a dataset run (py-spy, every process) showed most of a short task's time going to
things that repeat for every task run and carry no information:

1. **The settings context shipped with every task.** ``prefect_dask`` serialises the flow's whole
   Prefect settings model with each submitted task (~45 ms in the flow process) and the worker
   validates it back into a settings object, re-reading the environment and ``.env`` files
   (~75 ms). A worker started with the same ``PREFECT_API_URL`` already has those settings, so
   :class:`LeanDaskTaskRunner` submits without the settings context when the workers' API URL
   matches the flow's (checked once per run, :func:`workers_share_api`); otherwise it ships it as
   stock Prefect does.
2. **A new TLS context per API client.** Every task run opens two API clients and each builds an
   ``ssl`` context from the whole CA bundle (~50 ms each), even for a plain-HTTP loopback server.
   :func:`reuse_api_tls_contexts` makes Prefect's client module build each distinct context once
   per process (httpx's own advice: TLS contexts are expensive, share them). Verification is
   unchanged: the same arguments give the same context as before.

3. **A heartbeat-thread join per subflow** (up to 1 s): :func:`without_heartbeats`.
4. **A closure shipped by value with every task run.** ``prefect_dask`` wraps each submitted call in
   a new function that cloudpickle serialises as code and globals (scanning ``sys.modules``) and
   every worker rebuilds: :meth:`LeanDaskTaskRunner._submit` sends the importable :func:`run_task`.
5. **The flow and the task shipped by value with every task run.** The call holds the task and its
   context holds the flow: a ``with_options`` copy of the dataset flow, whose function cloudpickle
   ships by value (its module's attribute is the Flow, not the function) with a copy of every task
   of its module, plus its parameter schema: ~31 kB of the ~36 kB of each submitted call. The Dask
   scheduler in the flow process unpickles every submitted call and keeps it while the task is in
   the cluster, and each worker rebuilt the flow for every task run.
   :meth:`LeanDaskTaskRunner._submit` sends an importable flow or task as a :class:`Named` (module,
   name and the attributes a copy changed: ~7 kB per call), which :func:`run_task` resolves once
   per worker process.

All are pinned to the Prefect/prefect-dask versions in pyproject.toml and covered by
tests/test_lean.py, which fails if an upgrade moves the code they rely on.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.machinery
import os
import ssl
import sys
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from prefect.context import SettingsContext
from prefect_dask import DaskTaskRunner


class _SharedTLS:
    """The ``ssl`` module as Prefect's client module sees it, with contexts built once per arguments."""

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def create_default_context(purpose: Any = ssl.Purpose.SERVER_AUTH, *, cafile: str | None = None,
                               capath: str | None = None, cadata: Any = None) -> ssl.SSLContext:
        return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)


def reuse_api_tls_contexts() -> None:
    """Idempotent; applies to this process's Prefect API clients only."""
    import prefect.client.orchestration as orchestration

    if not isinstance(orchestration.ssl, _SharedTLS):
        orchestration.ssl = _SharedTLS()  # type: ignore[assignment]


def workers_share_api(client: Any) -> bool:
    """True when every Dask worker was started with this process's ``PREFECT_API_URL``."""
    mine = os.environ.get("PREFECT_API_URL")
    if not mine:
        return False
    theirs = client.run(lambda: os.environ.get("PREFECT_API_URL"))
    return bool(theirs) and all(url == mine for url in theirs.values())


class LeanDaskTaskRunner(DaskTaskRunner):
    """DaskTaskRunner that leaves the Prefect settings context out of each submitted task when the
    workers already have the same settings source (the same ``PREFECT_API_URL``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lean: bool | None = None
        self._names: dict[int, tuple[Any, Any]] = {}

    def submit(self, task: Any, parameters: dict[str, Any], wait_for: Any = None,
               dependencies: Any = None) -> Any:
        if self._lean is None:
            self._lean = workers_share_api(self.client)
        with _settings_not_shipped() if self._lean else contextlib.nullcontext():
            return self._submit(task, parameters, wait_for, dependencies)

    def _submit(self, task: Any, parameters: dict[str, Any], wait_for: Any, dependencies: Any) -> Any:
        """``PrefectDaskClient.submit`` for a sync task, minus two costs that carry no information:

        - it wraps every call in a new closure, which cloudpickle ships by value (code, globals and a
          scan of ``sys.modules``) and each worker rebuilds; here the call goes to the module-level
          :func:`run_task`, pickled by reference;
        - ``pure=True`` makes Dask hash the pickled call for a key, but every Prefect task run already
          has a unique id: the key is the task's name and that id.
        """
        from distributed import Client, Future
        from prefect.context import serialize_context
        from prefect.utilities.engine import collect_task_run_inputs_sync
        from prefect_dask.task_runners import PrefectDaskFuture

        if not self._started:
            raise RuntimeError("The task runner must be started before submitting work.")
        if task.isasync:  # lvas has none; Prefect's own path handles them
            future = self.client.submit(task, parameters=self._optimize_futures(parameters),
                                        wait_for=self._optimize_futures(wait_for) if wait_for else None,
                                        dependencies=dependencies, return_type="state")
            return PrefectDaskFuture(wrapped_future=future, task_run_id=future.task_run_id)
        parameters = self._optimize_futures(parameters)
        task_run_id = uuid4()
        inputs = {k: collect_task_run_inputs_sync(v, future_cls=Future) for k, v in parameters.items()}
        if dependencies:
            inputs = {k: v.union(dependencies.get(k, set())) for k, v in inputs.items()}
        context = serialize_context(asset_ctx_kwargs={"task": task, "task_run_id": task_run_id,
                                                      "task_inputs": inputs, "copy_to_child_ctx": True})
        flow_context = context.get("flow_run_context")
        if flow_context and "flow" in flow_context:
            context["flow_run_context"] = {**flow_context, "flow": self._named(flow_context["flow"])}
        future = Client.submit(self.client, run_task, key=f"{task.name}-{task_run_id}", pure=False,
                               task=self._named(task), task_run_id=task_run_id, parameters=parameters,
                               wait_for=self._optimize_futures(wait_for) if wait_for else None,
                               return_type="state", dependencies=inputs, context=context)
        return PrefectDaskFuture(wrapped_future=future, task_run_id=task_run_id)

    def _named(self, obj: Any) -> Any:
        """``obj`` (a flow or task) as a :class:`Named` when importable, else itself; once per object."""
        hit = self._names.get(id(obj))
        if hit is None or hit[0] is not obj:
            hit = (obj, Named.of(obj) or obj)
            self._names[id(obj)] = hit
        return hit[1]

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_names": {}}  # ids of this process mean nothing elsewhere


def run_task(**kwargs: Any) -> Any:
    """What a worker runs for a submitted sync task (prefect_dask's per-submit closure, importable)."""
    from prefect.task_engine import run_task_sync

    if isinstance(kwargs["task"], Named):
        kwargs["task"] = kwargs["task"].resolve()
    flow_context = (kwargs.get("context") or {}).get("flow_run_context") or {}
    if isinstance(flow_context.get("flow"), Named):
        kwargs["context"] = {**kwargs["context"], "flow_run_context": {**flow_context,
                                                                       "flow": flow_context["flow"].resolve()}}
    return run_task_sync(**kwargs)


_MISSING = object()


@dataclass(frozen=True, eq=False)
class Named:
    """A Prefect flow or task as its module, its name there and the attributes in which it differs
    from that object (a ``with_options`` copy): what a worker needs to have the same object."""

    module: str
    name: str
    changes: tuple[tuple[str, Any], ...] = ()
    token: str = ""  # one per source object: a worker resolves each once

    @classmethod
    def of(cls, obj: Any) -> Named | None:
        module, name = getattr(obj, "__module__", None), getattr(obj, "__name__", None)
        if not (isinstance(module, str) and isinstance(name, str) and _importable(module)):
            return None
        named = getattr(sys.modules[module], name, None)
        if named is obj:
            return cls(module, name)
        if type(named) is not type(obj) or getattr(named, "fn", None) is not obj.fn:
            return None
        base = named.__dict__
        changes = tuple((k, v) for k, v in obj.__dict__.items() if not _same(base.get(k, _MISSING), v))
        return cls(module, name, changes, uuid4().hex) if changes else cls(module, name)

    def resolve(self) -> Any:
        named = getattr(importlib.import_module(self.module), self.name)
        if not self.changes:
            return named
        key = (self.module, self.name, self.token)
        obj = _RESOLVED.get(key)
        if obj is None:
            obj = type(named).__new__(type(named))
            obj.__dict__.update(named.__dict__)
            obj.__dict__.update(self.changes)
            while len(_RESOLVED) >= 64:  # a few copies per run; bounded for long-lived workers
                _RESOLVED.pop(next(iter(_RESOLVED)))
            _RESOLVED[key] = obj
        return obj


_RESOLVED: dict[tuple[str, str, str], Any] = {}


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # not comparable: treat as changed
        return False


@functools.lru_cache(maxsize=256)
def _importable(module: str) -> bool:
    """True when ``module`` is what a plain ``import`` of its name finds on this process's path: not
    ``__main__``, nor a script loaded under a made-up name (as Prefect loads ``path/file.py:flow``
    entrypoints), which a worker could not import."""
    loaded = sys.modules.get(module)
    spec = getattr(loaded, "__spec__", None)
    if loaded is None or spec is None or spec.name != module or module.startswith("__"):
        return False
    parent, _, leaf = module.rpartition(".")
    path = getattr(sys.modules.get(parent), "__path__", None) if parent else None
    if parent and path is None:
        return False
    found = importlib.machinery.PathFinder.find_spec(leaf, path)
    return found is not None and found.origin == spec.origin


class _Unshipped(SettingsContext):
    """The current settings, serialising to nothing: the worker keeps its own."""

    def serialize(self, include_secrets: bool = True) -> dict[str, Any]:
        return {}


@contextlib.contextmanager
def _settings_not_shipped() -> Any:
    current = SettingsContext.get()
    if current is None:
        yield
        return
    with _Unshipped(profile=current.profile, settings=current.settings):  # the same settings object, no copy
        yield


@contextlib.contextmanager
def without_heartbeats() -> Any:
    """Run a subflow without Prefect's flow-run heartbeat thread.

    The thread sleeps in 1 s steps and the sync engine joins it when the flow run ends, which
    adds up to a second to every subflow run. A subflow runs inside a task of a flow run whose
    own heartbeats already say the run is alive; its end is reported when it returns.
    """
    current = SettingsContext.get()
    if current is None or current.settings.flows.heartbeat_frequency is None:
        yield
        return
    with SettingsContext(profile=current.profile, settings=_quiet(current.settings)):
        yield


_QUIET: list[tuple[Any, Any]] = []  # the last settings object seen, and its copy without heartbeats


def _quiet(settings: Any) -> Any:
    """``settings`` without heartbeats (validated once per settings object: about 75 ms). Only the
    last one is kept: a worker of a kept cluster serves run after run, and when a run ships its
    settings with every task (``workers_share_api`` false) each task brings a new object."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    if not _QUIET or _QUIET[0][0] is not settings:
        _QUIET[:] = [(settings, settings.copy_with_update(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))]
    return _QUIET[0][1]
