"""ToolPRMBench as lm-eval and Inspect tasks.

The Inspect tasks are exported lazily: the lm-eval discovery hook imports this package at
interpreter start-up, so importing it must not import Inspect (or anything heavy).
"""

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from .bfcl import bfcl
    from .gta import gta
    from .search import toolprm_search
    from .toolprmbench import toolprmbench
    from .toolsandbox import toolsandbox
    from .tooltalk import tooltalk

__all__ = ["bfcl", "gta", "toolprm_search", "toolprmbench", "toolsandbox", "tooltalk"]


def __getattr__(name: str) -> object:
    if name == "__version__":  # from the installed metadata (pyproject.toml), read only when asked
        from .core.versions import package_version  # lazy: read only when asked (see the module docstring)

        return package_version()
    if name in __all__:
        import importlib  # lazy: this package is imported at interpreter start-up: nothing more there

        module = {"toolprm_search": "search"}.get(name, name)  # task files are named after their task
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
