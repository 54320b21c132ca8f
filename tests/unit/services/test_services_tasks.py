"""cancel_and_wait: every task ends, even one that swallowed a cancellation."""

from __future__ import annotations

import asyncio

from services.tasks import cancel_and_wait


async def test_a_loop_that_swallows_one_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def loop() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as redis-py's command path can, once

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.02)
    # Waited for with asyncio.wait, which does not cancel on its timeout (wait_for's
    # own cancellation would reach the loop through the waiter and end it).
    waiter = asyncio.create_task(cancel_and_wait([task]))
    done, _ = await asyncio.wait([waiter], timeout=2.0)
    if not done:
        task.cancel()  # ends it: it swallows only one
    assert waiter in done, "cancel_and_wait still waiting for a loop that swallowed a cancel"
    assert task.cancelled() and swallowed == 1


async def test_failed_and_finished_tasks_are_waited_for_without_raising() -> None:
    async def fail() -> None:
        raise RuntimeError("background loop failed")

    async def forever() -> None:
        await asyncio.Event().wait()

    failed = asyncio.create_task(fail())
    done = asyncio.create_task(asyncio.sleep(0))
    running = asyncio.create_task(forever())
    await asyncio.sleep(0.01)
    await cancel_and_wait([failed, done, running])
    assert failed.done() and not failed.cancelled()
    assert isinstance(failed.exception(), RuntimeError)
    assert done.done() and running.cancelled()
