"""Group commit: alone at once, under load in shared groups, at most N commits side by side."""

from __future__ import annotations

import asyncio

import pytest

from crm_messaging.sending.groupcommit import GroupCommit


class Slow:
    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def apply(self, items: list[int]) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        self.groups.append(items)
        try:
            await self.release.wait()
            if 13 in items:
                raise RuntimeError("unlucky")
        finally:
            self.running -= 1


async def test_alone_an_item_is_committed_at_once() -> None:
    done: list[list[int]] = []

    async def apply(items: list[int]) -> None:
        done.append(items)

    await GroupCommit(apply).submit(1)
    assert done == [[1]]


async def test_under_load_items_share_groups_and_commits_run_side_by_side() -> None:
    slow = Slow()
    commit = GroupCommit(slow.apply, max_inflight=2)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    second = asyncio.create_task(commit.submit(2))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(commit.submit(n)) for n in (3, 4, 5)]
    await asyncio.sleep(0.01)
    assert slow.groups == [[1], [2]]  # two commits in flight, the rest waits for one
    slow.release.set()
    await asyncio.gather(first, second, *waiting)
    assert slow.groups[2:] == [[3, 4, 5]]
    assert slow.most == 2


async def test_a_failed_commit_fails_only_its_own_group() -> None:
    slow = Slow()
    commit = GroupCommit(slow.apply, max_inflight=1)
    ok = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    bad = [asyncio.create_task(commit.submit(n)) for n in (12, 13)]
    await asyncio.sleep(0)
    slow.release.set()
    await ok
    for task in bad:
        with pytest.raises(RuntimeError, match="unlucky"):
            await task
    assert slow.groups == [[1], [12, 13]]
