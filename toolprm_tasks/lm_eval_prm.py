"""lm-eval models `toolprm-hf` and `toolprm-vllm`: local PRMs scored by a scoring engine,
for the pointwise tasks.

    lm_eval --model toolprm-hf --model_args pretrained=DIR,kind=classifier --device cpu --tasks toolprmbench_prm
    lm_eval --model toolprm-vllm --model_args pretrained=DIR,kind=step,tensor_parallel_size=2 --tasks toolprmbench_prm

Each log-likelihood request of a `toolprmbench_*_prm` task asks for one candidate's score
given the history; the engine's score goes into lm-eval's log-likelihood slot unchanged
(those tasks do not length-normalise). Other request types are refused with a clear error.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM

from toolprm_tasks.engines.base import PromptFormat, ScoreRequest
from toolprm_tasks.trials import JudgeView


def score_requests(requests: list[Any]) -> list[ScoreRequest]:
    out = []
    for request in requests:
        doc = getattr(request, "doc", None)
        if not isinstance(doc, dict) or "judge_view" not in doc:
            raise ValueError("toolprm PRM backends score only ToolPRMBench pointwise tasks (toolprmbench_*_prm); "
                             f"got a request from task {getattr(request, 'task_name', '?')!r}")
        view = JudgeView.from_json(doc["judge_view"])
        out.append(ScoreRequest(view.history, view.functions, view.candidates[request.idx]))
    return out


class PRMBackendLM(LM):
    """Scores pointwise requests with a scoring engine; subclasses choose the engine."""

    engine_name = ""

    def __init__(self, pretrained: str, kind: str = "classifier", max_length: int | str | None = None,
                 step_tag: str | None = None, **options: Any) -> None:
        super().__init__()
        fmt = PromptFormat(step_tag=step_tag) if step_tag else None
        self.engine = self.make_engine(str(pretrained), str(kind), int(max_length) if max_length else None, fmt, options)

    def make_engine(self, model: str, kind: str, max_length: int | None, fmt: PromptFormat | None,
                    options: dict[str, Any]) -> Any:
        raise NotImplementedError

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        # both candidates of a case arrive together (lm-eval keeps a doc's choices adjacent)
        return [(score, False) for score in self.engine.score(score_requests(requests))]

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        if getattr(self.engine, "kind", None) != "pairwise":
            raise NotImplementedError(f"{self.engine_name} scores candidates; use the toolprmbench_*_prm tasks "
                                      "(or kind=pairwise with the generative tasks)")
        max_tokens = max(int(r.args[1].get("max_gen_toks", 1024)) for r in requests) if requests else 0
        return self.engine.generate([r.args[0] for r in requests], max_tokens=max_tokens)

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError(f"{self.engine_name} scores candidates; rolling log-likelihood is not defined")


class HFPRMLM(PRMBackendLM):
    engine_name = "toolprm-hf"

    def make_engine(self, model, kind, max_length, fmt, options):  # type: ignore[no-untyped-def]
        from toolprm_tasks.engines.hf import HFEngine

        return HFEngine(model, kind, max_length, fmt, device=options.get("device") or "cpu",
                        dtype=options.get("dtype", "float32"),
                        trust_remote_code=str(options.get("trust_remote_code", False)).lower() == "true")


class VLLMPRMLM(PRMBackendLM):
    engine_name = "toolprm-vllm"

    def make_engine(self, model, kind, max_length, fmt, options):  # type: ignore[no-untyped-def]
        from toolprm_tasks.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model, kind, max_length, fmt,
                          tensor_parallel_size=int(options.get("tensor_parallel_size", 1)),
                          dtype=options.get("dtype"), load_format=options.get("load_format", "auto"))
