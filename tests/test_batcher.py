"""The Inspect PRM providers' batcher: concurrent requests share engine calls, in order."""

from __future__ import annotations

import asyncio

from toolprm_tasks.inspect_adapter.prm_provider import Batcher


def test_concurrent_requests_are_batched_and_answered_in_order() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(items)
        return [item * 10 for item in items]

    async def main() -> list[int]:
        batcher: Batcher[int, int] = Batcher(run)
        return await asyncio.gather(*(batcher.submit(i, max_batch=4) for i in range(10)))

    assert asyncio.run(main()) == [i * 10 for i in range(10)]
    # every item ran exactly once, never more than 4 per call, and in fewer calls than items
    assert sorted(i for call in calls for i in call) == list(range(10))
    assert all(len(call) <= 4 for call in calls) and len(calls) <= 4


def test_an_engine_error_reaches_every_caller_of_the_batch() -> None:
    def run(items: list[int]) -> list[int]:
        raise RuntimeError("model died")

    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(run)
        return await asyncio.gather(*(batcher.submit(i, max_batch=8) for i in range(3)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) and str(r) == "model died" for r in results)


def test_an_engine_that_returns_too_few_results_fails_every_caller() -> None:
    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(lambda items: items[:-1])
        return await asyncio.gather(*(batcher.submit(i, max_batch=8) for i in range(3)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) and "2 results for 3 requests" in str(r) for r in results), results
