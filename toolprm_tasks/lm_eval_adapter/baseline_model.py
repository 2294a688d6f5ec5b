"""lm-eval model `toolprm-baseline`: the weight-free baseline judges as an lm-eval LM.

    lm_eval --model toolprm-baseline --model_args judge=schema --tasks toolprmbench

`judge=` is required (random, first, longer or schema): a run never falls back to one.

The judge reads only the document's `judge_view` (history, tool specs, the two candidates
in the order shown), never the label. Generation returns an answer in the paper's JSON
format, which then goes through the same parser as any model's answer; log-likelihood
requests return the judge's score for the requested candidate (or label).
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM

from toolprm_tasks.brief_errors import lm_eval_brief
from toolprm_tasks.core.baselines import JUDGES, candidate_scores, check_judge, generative_answer, generative_pick
from toolprm_tasks.core.trials import JudgeView
from toolprm_tasks.engines.factory import FRAMEWORK_OPTIONS, OptionError, check_options, choice, whole

OPTIONS = {"judge": choice(*JUDGES), "seed": whole()}


class BaselineJudgeLM(LM):
    def __init__(self, **options: Any) -> None:
        """`judge=NAME` (required: no judge is a default) and `seed=N`; lm-eval also passes
        batch_size, max_batch_size and device, meaningless here. Checked by the one option
        check (`engines.factory.check_options`)."""
        super().__init__()
        with lm_eval_brief(ValueError):  # a refused --model_args value: its message alone on lm_eval's command line
            checked = check_options("toolprm-baseline", options, OPTIONS, FRAMEWORK_OPTIONS)
            if "judge" not in checked:
                raise OptionError("toolprm-baseline needs a judge: --model_args judge=NAME, NAME one of "
                                  f"{', '.join(JUDGES)}")
            self.judge = check_judge(checked["judge"])
            self.seed = checked.get("seed", 0)

    @staticmethod
    def _doc(request: Any) -> dict[str, Any]:
        doc = getattr(request, "doc", None)
        if not isinstance(doc, dict) or "judge_view" not in doc:
            raise ValueError(
                "toolprm-baseline judges only ToolPRMBench tasks (toolprmbench_*); "
                f"got a request from task {getattr(request, 'task_name', '?')!r}"
            )
        return doc

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        answers = []
        for request in requests:
            doc = self._doc(request)
            pick = generative_pick(self.judge, JudgeView.from_json(doc["judge_view"]), self.seed)
            answers.append(generative_answer(pick, tuple(doc["labels"]), self.judge))
        return answers

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool, bool]]:
        results = []
        for request in requests:
            doc = self._doc(request)
            scores = candidate_scores(self.judge, JudgeView.from_json(doc["judge_view"]), self.seed)
            # Both likelihood protocols ask about choice idx = candidate idx + 1.
            # A log-probability must not be positive: shift by the larger score.
            logprob = scores[request.idx] - max(scores)
            # (log-likelihood, is-greedy, history shortened): a judge without a context limit
            # never shortens, and says so (the `truncated` metric is 0, not unknown)
            results.append((logprob, logprob == 0.0, False))
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("toolprm-baseline has no language model: rolling log-likelihood is undefined")


__all__ = ["BaselineJudgeLM"]
