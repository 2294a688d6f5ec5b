"""Makes a plain `lm_eval` see this package's tasks and models (lm-eval 0.4.13 and 0.5.0.dev1
read no plugins: neither calls `entry_points()`, so our declared entry points wait for a release
that does).

Loaded at interpreter start-up by `toolprm_tasks_lm_eval.pth`. It only puts a tiny finder on
`sys.meta_path` that does nothing until lm-eval itself imports one of two modules:

- `lm_eval.tasks.manager`: `TaskManager.__init__` is wrapped so that this package's
  `task_yaml` folder is scanned before any `--include_path` (later paths override earlier
  ones, so a user's own folder still wins);
- `lm_eval.models`: our model names are registered as lazy placeholders right after
  lm-eval's own (registering earlier would make lm-eval skip its built-in models).

Set TOOLPRM_TASKS_NO_LM_EVAL_HOOK=1 to switch it off (then use `--include_path`).
It deliberately imports nothing but `os` and `sys` (no `importlib.abc`): start-up cost matters.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at every interpreter start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DISABLE_ENV = "TOOLPRM_TASKS_NO_LM_EVAL_HOOK"



def _with_our_tasks(include_path: Any) -> Any:
    # lazy: this hook runs at every interpreter start (a .pth): our package only once lm-eval is used
    from toolprm_tasks.lm_eval_adapter.paths import task_yaml_dir

    ours = str(task_yaml_dir())
    if include_path is None:
        return [ours]
    paths = list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
    if ours in (str(p) for p in paths):
        return paths
    return [ours, *paths]


def _patch_task_manager(module: Any) -> None:
    """Wrap `TaskManager.__init__`: arguments bound by its own signature (positional or by
    keyword, under lm-eval 0.4.13 and 0.5.0.dev1 alike), our folder put first on `include_path`."""
    import inspect  # lazy: only now: lm-eval is being imported anyway (not at every interpreter start)

    cls = module.TaskManager
    original = cls.__init__
    if getattr(original, "_toolprm_tasks", False):
        return
    signature = inspect.signature(original)
    if "include_path" not in signature.parameters:
        raise TypeError(f"TaskManager.__init__{signature} has no include_path")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:  # a wrong call: lm-eval's own error, not ours
            original(self, *args, **kwargs)
            return
        bound.arguments["include_path"] = _with_our_tasks(bound.arguments.get("include_path"))
        original(*bound.args, **bound.kwargs)

    __init__._toolprm_tasks = True  # type: ignore[attr-defined]
    __init__.__doc__ = original.__doc__
    __init__.__signature__ = signature  # type: ignore[attr-defined]
    cls.__init__ = __init__


def _register_models(module: Any) -> None:
    from lm_eval.api.registry import model_registry

    # lazy: this hook runs at every interpreter start; LM_EVAL_MODELS: "module:class", materialised on first use
    from toolprm_tasks.core.names import LM_EVAL_MODELS

    for name, target in LM_EVAL_MODELS.items():
        if name not in model_registry:
            model_registry.register(name, target=target)


_HOOKS: dict[str, Callable[[Any], None]] = {
    "lm_eval.tasks.manager": _patch_task_manager,
    "lm_eval.models": _register_models,
}


class _PatchingLoader:
    """Delegates to the real loader, then applies our patch to the executed module."""

    def __init__(self, loader: Any, patch: Callable[[Any], None]) -> None:
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            self._patch(module)
        except Exception as exc:  # never break lm_eval itself because of us
            print(f"toolprm-tasks: lm-eval hook failed ({exc!r}); "
                  f"use --include_path instead", file=sys.stderr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PostImportFinder:
    """A plain `find_spec` finder: wraps the loaders of the two lm-eval modules we patch."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        patch = _HOOKS.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


def install() -> None:
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return
    if any(isinstance(f, _PostImportFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _PostImportFinder())
    # lm_eval already imported (unusual: a .pth ran late): patch in place.
    for name, patch in _HOOKS.items():
        if name in sys.modules:
            patch(sys.modules[name])


install()
