"""What to run when the official data cannot be had, worded for the command in use.

The paper's files are downloaded on first use. Without network, every front end says in a few
lines what works offline instead (the rebuilt cases: BFCL and ToolTalk, built from the source
packages `make install` installs; not the paper's data) and how to supply the official file.
GTA and ToolSandbox have no rebuilt set that `toolprmbench build` makes alone: their message says which file to
supply. Front ends: `lm-eval` (task names), `inspect` (`-T data=rebuilt`), `toolprmbench`
(`--data rebuilt`) and `any` (all three, for a library caller).
"""

from __future__ import annotations

from typing import Any

from toolprm_tasks.core.safe_text import visible
from toolprm_tasks.data import cache, pins
from toolprm_tasks.data.errors import DataError

REBUILT_SUBSETS: tuple[str, ...] = ("bfcl", "tooltalk")  # what `toolprmbench build` makes from installed sources
FRONT_ENDS = ("lm-eval", "inspect", "toolprmbench", "any")
REBUILT = "BFCL and ToolTalk, rebuilt from the installed sources; not the paper's data"
_DATA_COMMANDS = ("info", "audit", "demo")  # toolprmbench commands with --data
_SHOWN = {"gta": "GTA", "tooltalk": "ToolTalk", "bfcl": "BFCL", "toolsandbox": "ToolSandbox"}


def _lm_eval_task(subset: str, task_suffix: str) -> str:
    return f"toolprmbench_rebuilt_{subset}{task_suffix}"


def rebuilt_route(subset: str | None, front_end: str, task_suffix: str = "", command: str = "") -> str:
    """The offline alternative in the words of one front end (`subset` None: every subset;
    `task_suffix`: the lm-eval task's protocol suffix; `command`: the toolprmbench subcommand)."""
    same = subset in REBUILT_SUBSETS
    lm_eval = (f"--tasks {_lm_eval_task(subset, task_suffix)} (both: toolprmbench_rebuilt{task_suffix})" if same
               else f"--tasks toolprmbench_rebuilt{task_suffix}")
    # the registry name (no .py): it works wherever the package is installed, a file path only in a checkout
    inspect = (f"inspect eval toolprm_tasks/{subset} -T data=rebuilt" if same
               else "inspect eval toolprm_tasks/toolprmbench -T data=rebuilt")
    toolprmbench = "toolprmbench info, audit and demo (the rebuilt cases are their default)"
    if command in _DATA_COMMANDS:
        toolprmbench = f"toolprmbench {command} --data rebuilt (the default of {', '.join(_DATA_COMMANDS)})"
    elif command in ("export", "train"):  # the rebuilt training split: their default too
        toolprmbench = f"toolprmbench {command} --data rebuilt (its default: the rebuilt training split)"
    routes = {"lm-eval": f"lm_eval ... {lm_eval}", "inspect": inspect, "toolprmbench": toolprmbench}
    if front_end == "any":
        return "; ".join(routes.values())
    return routes[front_end]


def official_supply(subset: str, filename: str | None = None) -> str:
    """How to supply one official file without network (`filename`: another file of the subset
    than its test file, e.g. its training file, which `toolprmbench download` does not fetch)."""
    name = filename or pins.PINNED_FILES[subset].filename
    supply = (f"put the paper's {name} (downloaded where there is network) in a folder and set "
              "TOOLPRMBENCH_DATA_DIR to that folder (verified against its pin)")
    if name != pins.PINNED_FILES[subset].filename:
        return supply
    return f"{supply}, or copy a cache filled by `toolprmbench download` to {cache.cache_dir()}"


def no_rebuilt_set(subset: str, front_end: str = "any", filename: str | None = None) -> str:
    """Why `subset` has no offline set built for you, and the one file to supply."""
    if subset == "gta":
        rebuilt = ("inspect eval toolprm_tasks/gta -T data=rebuilt" if front_end in ("inspect", "any")
                   else "the Inspect task toolprm_tasks/gta -T data=rebuilt (lm-eval has no rebuilt GTA task)")
        return ("GTA has no offline set built for you (GTA is not on PyPI). Supply one of two files:\n"
                f"  - {official_supply(subset, filename)};\n"
                "  - or rebuild cases from GTA's own dataset.json (from GTA's release; toolmeta.json beside it is "
                "used): `toolprmbench build --source gta --gta-dataset PATH/dataset.json --out DIR`, then TOOLPRMBENCH_REBUILT_DIR=DIR "
                f"with {rebuilt}.")
    rebuilt = " and ".join(_SHOWN[s] for s in REBUILT_SUBSETS)
    return f"{_SHOWN[subset]} has no rebuilt set (only {rebuilt} are rebuilt). Supply the file: {official_supply(subset, filename)}."


def unavailable_message(subset: str, reason: str, front_end: str = "any", task_suffix: str = "",
                        command: str = "", answered: bool = False, filename: str | None = None) -> str:
    """The message of `data.DataUnavailable`: a few lines, the offline route first. `answered`:
    the server was reached and sent something that is not the file (an HTML page, a body over
    the limit), which is not being offline and is not said to be."""
    if front_end not in FRONT_ENDS:
        raise ValueError(f"front_end {front_end!r}: expected one of {', '.join(FRONT_ENDS)}")
    headline = ("the official ToolPRMBench data could not be had: the server answered, but not with the file"
                if answered else "the official ToolPRMBench data is not available offline")
    lines = [f"{headline}: {reason}."]
    route = rebuilt_route(subset if subset in REBUILT_SUBSETS else None, front_end, task_suffix, command)
    if subset in REBUILT_SUBSETS:
        lines.append(f"Offline, run the rebuilt cases instead ({REBUILT}): {route}.")
        lines.append(f"Or supply the official file: {official_supply(subset, filename)}. See docs/data.md.")
    else:
        lines.append(no_rebuilt_set(subset, front_end, filename))
        lines.append(f"Offline without {_SHOWN[subset]}, the rebuilt cases ({REBUILT}): {route}. See docs/data.md.")
    return visible("\n".join(lines))


class DataUnavailable(DataError):
    """An official file that is neither in TOOLPRMBENCH_DATA_DIR nor in the cache and cannot be
    downloaded. The message names what runs offline instead and how to supply the file, worded
    for the command in use (`worded_for`)."""

    def __init__(self, subset: str, reason: str, front_end: str = "any", task_suffix: str = "",
                 command: str = "", answered: bool = False, filename: str | None = None) -> None:
        self.subset, self.reason, self.answered, self.filename = subset, reason, answered, filename
        self._args = (subset, reason, front_end, task_suffix, command, answered, filename)
        super().__init__(unavailable_message(subset, reason, front_end, task_suffix, command, answered, filename))

    def __reduce__(self) -> tuple[type[DataUnavailable], tuple[Any, ...]]:
        # the default pickles only the message, which is not this __init__'s signature
        return (type(self), self._args)

    def worded_for(self, front_end: str, task_suffix: str = "", command: str = "") -> DataUnavailable:
        """The same error with the offline route of `front_end` (lm-eval, inspect, toolprmbench;
        `task_suffix`: the lm-eval task's protocol suffix; `command`: the toolprmbench command)."""
        return DataUnavailable(self.subset, self.reason, front_end, task_suffix, command, self.answered,
                               self.filename)
