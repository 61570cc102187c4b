"""Stopping a background task whose first cancellation is lost (as redis-py on Python 3.11 can
lose one while it waits on a reply): shutdown must not hang on it."""

from __future__ import annotations

import asyncio

import pytest

from overworld.subsystems.tasks import stop

pytestmark = pytest.mark.anyio


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again():
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)  # lost once, as a waiting Redis call can lose it

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop(task, every=0.05), timeout=5)
    assert swallowed == [True]
    assert task.cancelled()


async def test_a_task_that_never_stops_is_left_after_its_tries_rather_than_hanging():
    released = False

    async def immortal() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if released:
                    raise

    task = asyncio.create_task(immortal())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop(task, every=0.01, tries=3), timeout=5)
    assert not task.done()
    released = True
    await stop(task)
    assert task.cancelled()


async def test_a_failed_task_is_stopped_without_raising():
    async def failing() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await stop(task)
    assert isinstance(task.exception(), ValueError)
