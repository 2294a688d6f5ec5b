"""lm-eval models `toolprm-hf` and `toolprm-vllm`: local PRMs scored by a scoring engine,
for the pointwise tasks.

    lm_eval --model toolprm-hf --model_args pretrained=DIR,kind=classifier --device cpu --tasks toolprmbench_prm
    lm_eval --model toolprm-vllm --model_args pretrained=DIR,kind=step,tensor_parallel_size=2 --tasks toolprmbench_prm
    lm_eval --model toolprm-vllm --model_args pretrained=DIR,kind=verifier,server=true --tasks toolprmbench_prm

Each log-likelihood request of a `toolprmbench_*_prm` task asks for one candidate's score
given the history; the answer is `(score, False, truncated)`: the engine's score in
lm-eval's log-likelihood slot unchanged (those tasks do not length-normalise), lm-eval's
is-greedy slot (meaningless for a score), and whether the history was shortened to fit,
which the tasks report as their `truncated` metric. Options: `engines.factory`.
"""

from __future__ import annotations

import logging
from typing import Any

from lm_eval.api.model import LM

from toolprm_tasks.brief_errors import for_lm_eval, lm_eval_brief
from toolprm_tasks.core.trials import JudgeView
from toolprm_tasks.engines.base import EngineError, ScoreRequest
from toolprm_tasks.engines.factory import OptionError, make_engine

logger = logging.getLogger(__name__)


def score_requests(requests: list[Any]) -> list[ScoreRequest]:
    out = []
    for request in requests:
        doc = getattr(request, "doc", None)
        if not isinstance(doc, dict) or "judge_view" not in doc:
            raise for_lm_eval(ValueError("toolprm PRM backends score only ToolPRMBench pointwise tasks "
                                         f"(toolprmbench_*_prm); got a request from task "
                                         f"{getattr(request, 'task_name', '?')!r}"))
        view = JudgeView.from_json(doc["judge_view"])
        out.append(ScoreRequest(view.history, view.functions, view.candidates[request.idx]))
    return out


def _cut_at_stop(text: str, until: str | list[str] | None) -> str:
    """lm-eval's `until`: the answer ends before the first stop sequence (as lm-eval's own
    models cut their generations)."""
    stops = [until] if isinstance(until, str) else list(until or [])
    ends = [text.find(stop) for stop in stops if stop and stop in text]
    return text[: min(ends)] if ends else text


class PRMBackendLM(LM):
    """Scores pointwise requests with a scoring engine; subclasses name the backend."""

    backend = ""

    def __init__(self, pretrained: str, **options: Any) -> None:
        super().__init__()
        # a refused option, or a model the engine cannot load as that kind: its message alone on
        # lm_eval's command line (any other error of the load keeps its traceback: it may be a bug)
        with lm_eval_brief(OptionError, EngineError):
            self.engine = make_engine(self.backend, str(pretrained), options)

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool, bool]]:
        if getattr(self.engine, "kind", None) == "pairwise":  # a setup error: the message alone on lm_eval's CLI
            raise for_lm_eval(ValueError(f"toolprm-{self.backend} with kind=pairwise answers the paper's pairwise "
                                         "prompt: run it on the generative tasks (toolprmbench_<subset>, "
                                         "toolprmbench_rebuilt_<subset>), or use a scoring kind on the _prm tasks"))
        # both candidates of a case arrive together (lm-eval keeps a doc's choices adjacent)
        scored = self.engine.score_detailed(score_requests(requests))
        logger.info("toolprm-%s: %s", self.backend, self.engine.report())
        return [(s.score, False, s.truncated) for s in scored]

    def get_model_info(self) -> dict[str, Any]:
        """Read by lm-eval after the run into the results file's `config`: the engine's settings,
        requests, prompt tokens, prefix-cache share and shortened histories."""
        return {"toolprm_engine": self.engine.report()}

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        if getattr(self.engine, "kind", None) != "pairwise":
            raise for_lm_eval(NotImplementedError(f"toolprm-{self.backend} with kind={self.engine.kind} scores "
                                                  "candidates: use the toolprmbench_*_prm tasks (or kind=pairwise "
                                                  "with the generative tasks)"))
        texts = self.engine.generate([r.args[0] for r in requests],
                                     max_tokens=[int(r.args[1].get("max_gen_toks", 1024)) for r in requests])
        logger.info("toolprm-%s: %s", self.backend, self.engine.report())
        return [_cut_at_stop(text, r.args[1].get("until")) for text, r in zip(texts, requests, strict=True)]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError(f"toolprm-{self.backend} scores candidates; rolling log-likelihood is not defined")


class HFPRMLM(PRMBackendLM):
    backend = "hf"


class VLLMPRMLM(PRMBackendLM):
    backend = "vllm"
