"""lm-eval model `toolprm-hf`: local PRMs scored by a scoring engine, for the pointwise tasks.

    lm_eval --model toolprm-hf --model_args pretrained=DIR,kind=classifier --device cpu --tasks toolprmbench_prm

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


class HFPRMLM(LM):
    def __init__(self, pretrained: str, kind: str = "classifier", max_length: int | str | None = None,
                 dtype: str = "float32", device: str | None = None, trust_remote_code: bool | str = False,
                 step_tag: str | None = None, **_framework_args: Any) -> None:
        super().__init__()
        from toolprm_tasks.engines.hf import HFEngine

        fmt = PromptFormat(step_tag=step_tag) if step_tag else None
        self.engine = HFEngine(str(pretrained), str(kind), int(max_length) if max_length else None, fmt,
                               device=device or "cpu", dtype=dtype,
                               trust_remote_code=str(trust_remote_code).lower() == "true")

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        # both candidates of a case arrive together (lm-eval keeps a doc's choices adjacent)
        return [(score, False) for score in self.engine.score(score_requests(requests))]

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        raise NotImplementedError("toolprm-hf scores candidates; use the toolprmbench_*_prm tasks, not generative ones")

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("toolprm-hf scores candidates; rolling log-likelihood is not defined")
