"""The account cache: served from memory, dropped on every change, by any writer, on any node."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
import pytest

from overworld.accounts.models import AccountUpdate
from overworld.config import Settings
from overworld.node import Node
from overworld.titles.models import Title
from tests.support import REDIS_URL, redis_prefix, unique

pytestmark = pytest.mark.anyio


async def _sign_up(node: Node, title: Title | None = None) -> str:
    result = await node.accounts.authenticate_device(title or node.default_title, unique("dev-"), True)
    return result.user_id


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    """PostgreSQL tells other connections of a commit a moment after it; poll for that."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "change never seen"
        await asyncio.sleep(0.02)


async def test_reads_are_cached_and_own_writes_drop_the_entry(node: Node):
    title, cache = node.default_title, node.accounts.cache
    uid = await _sign_up(node)
    first = await node.accounts.get_account(title, uid)
    hits = cache.hits
    again = await node.accounts.get_account(title, uid)
    assert cache.hits == hits + 1 and again == first
    # Callers get copies: changing one does not change the cache.
    again.user.display_name = "mutated"
    again.devices.clear()
    assert (await node.accounts.get_account(title, uid)) == first

    await node.accounts.update_account(title, uid, AccountUpdate(display_name="Ada"))
    assert (await node.accounts.get_account(title, uid)).user.display_name == "Ada"

    device = unique("dev-")
    await node.accounts.link_device(title, uid, device, {})
    assert device in [d.id for d in (await node.accounts.get_account(title, uid)).devices]
    await node.accounts.unlink_device(title, uid, device)
    assert device not in [d.id for d in (await node.accounts.get_account(title, uid)).devices]

    await node.accounts.link_custom(title, uid, unique("custom-"))
    assert (await node.accounts.get_account(title, uid)).custom_id

    await node.accounts.delete_account(title, uid)
    with pytest.raises(Exception, match="not found"):
        await node.accounts.get_account(title, uid)


async def test_changes_by_other_writers_reach_the_cache(node: Node):
    """The friends service changes `edge_count` in the users table; any SQL write counts too."""
    title = node.default_title
    alice, bob = await _sign_up(node), await _sign_up(node)
    assert (await node.accounts.get_account(title, alice)).user.edge_count == 0
    await node.friends.add(title.id, alice, "alice", ids=[bob])
    # The friends service tells the cache before it returns: read at once, not eventually.
    assert (await node.accounts.get_account(title, alice)).user.edge_count == 1
    assert (await node.accounts.get_account(title, bob)).user.edge_count == 1
    assert (await node.accounts.get_account(title, bob)).user.location == ""  # cached now
    await node.db.execute(
        "UPDATE users SET location = 'Porto' WHERE title_id = $1 AND id = $2", title.id, bob
    )

    async def moved() -> bool:
        return (await node.accounts.get_account(title, bob)).user.location == "Porto"

    await _eventually(moved)


async def test_session_refresh_uses_the_cache_and_sees_a_ban(node: Node):
    title = node.default_title
    uid = await _sign_up(node)
    await node.accounts.get_account(title, uid)
    hits = node.accounts.cache.hits
    assert (await node.accounts.session_user(title, uid)).user_id == uid
    assert node.accounts.cache.hits == hits + 1
    await node.db.execute("UPDATE users SET disable_time = 1 WHERE title_id = $1 AND id = $2", title.id, uid)

    async def banned() -> bool:
        try:
            await node.accounts.session_user(title, uid)
        except Exception as exc:
            return "banned" in str(exc)
        return False

    await _eventually(banned)


async def test_a_lost_change_feed_stops_caching(node: Node):
    title, cache = node.default_title, node.accounts.cache
    uid = await _sign_up(node)
    await node.accounts.get_account(title, uid)
    assert len(cache) >= 1
    cache.feed(False)
    assert len(cache) == 0
    await node.accounts.get_account(title, uid)
    assert len(cache) == 0
    cache.feed(True)
    await node.accounts.get_account(title, uid)
    assert len(cache) == 1


async def test_a_read_overtaken_by_a_change_is_not_cached(node: Node):
    title, cache = node.default_title, node.accounts.cache
    uid = await _sign_up(node)
    account = await node.accounts.get_account(title, uid)
    cache.feed(True)  # empty
    epoch = cache.epoch
    cache.changed(title.id, uid)  # a change committed while `account` was being read
    cache.put(title.id, uid, account, epoch)
    assert cache.get(title.id, uid) is None


async def test_cache_is_bounded_and_can_be_disabled(settings: Settings):
    node = await Node.start(msgspec.structs.replace(settings, account_cache_size=2))
    try:
        ids = [await _sign_up(node) for _ in range(3)]
        for uid in ids:
            await node.accounts.get_account(node.default_title, uid)
        assert len(node.accounts.cache) == 2
        assert node.accounts.cache.get(node.default_title.id, ids[0]) is None  # least recently used
    finally:
        await node.close()
    node = await Node.start(msgspec.structs.replace(settings, account_cache_size=0))
    try:
        uid = await _sign_up(node)
        await node.accounts.get_account(node.default_title, uid)
        assert len(node.accounts.cache) == 0
    finally:
        await node.close()


async def test_titles_never_share_entries(node: Node):
    other = await node.titles.create(unique("other"), unique("key-"), unique("http-"))
    uid = await _sign_up(node)
    await node.accounts.get_account(node.default_title, uid)
    with pytest.raises(Exception, match="not found"):
        await node.accounts.get_account(other, uid)


def _cluster_settings(pg_database: str, tmp_path) -> Callable[[str], Settings]:
    from overworld.config import load_settings

    title_name, key, http_key = unique("t"), unique("key-"), unique("http-")

    def settings(name: str) -> Settings:
        return load_settings(
            environ={},
            overrides={
                "database_url": pg_database,
                "data_dir": str(tmp_path / name),
                "auto_migrate": False,
                "default_title": title_name,
                "default_server_key": key,
                "default_http_key": http_key,
                "node_name": name,
            },
        )

    return settings


async def test_two_nodes_see_each_others_changes(pg_database: str, tmp_path):
    """Two nodes on one PostgreSQL database (a cluster): a change on one drops the other's entry."""
    settings = _cluster_settings(pg_database, tmp_path)
    a = await Node.start(settings("a"))
    b = await Node.start(settings("b"))
    try:
        title = a.default_title
        assert b.default_title.id == title.id
        uid = await _sign_up(a)
        assert (await a.accounts.get_account(title, uid)).user.display_name == ""
        assert (await b.accounts.get_account(title, uid)).user.display_name == ""
        await b.accounts.update_account(title, uid, AccountUpdate(display_name="Grace"))

        async def seen_on_a() -> bool:
            return (await a.accounts.get_account(title, uid)).user.display_name == "Grace"

        await _eventually(seen_on_a)
        device = unique("dev-")
        await b.accounts.link_device(title, uid, device, {})

        async def linked_on_a() -> bool:
            return device in [d.id for d in (await a.accounts.get_account(title, uid)).devices]

        await _eventually(linked_on_a)
        await b.accounts.delete_account(title, uid)

        async def gone_on_a() -> bool:
            try:
                await a.accounts.get_account(title, uid)
            except Exception:
                return True
            return False

        await _eventually(gone_on_a)
    finally:
        await b.close()
        await a.close()


async def test_a_write_answers_once_other_nodes_caches_dropped_it(pg_database: str, tmp_path):
    """Read-your-writes behind a load balancer: a write answered by node B is seen at once by a
    read on node A, which had the account cached (B tells its peers before answering)."""
    if not REDIS_URL:
        pytest.skip("a cluster needs OVERWORLD_TEST_REDIS_URL")
    prefix = redis_prefix("owcache")
    base = _cluster_settings(pg_database, tmp_path)

    def settings(name: str) -> Settings:
        return msgspec.structs.replace(base(name), redis_url=REDIS_URL, redis_prefix=prefix)

    a = await Node.start(settings("a"))
    b = await Node.start(settings("b"))
    try:
        title = a.default_title
        uid = await _sign_up(a)
        for i in range(30):
            await a.accounts.get_account(title, uid)  # cached on A
            await b.accounts.update_account(title, uid, AccountUpdate(display_name=f"name {i}"))
            assert (await a.accounts.get_account(title, uid)).user.display_name == f"name {i}"
            device = unique("dev-")
            await a.accounts.get_account(title, uid)
            await b.accounts.link_device(title, uid, device, {})
            assert device in [d.id for d in (await a.accounts.get_account(title, uid)).devices]
            await a.accounts.get_account(title, uid)
            await b.accounts.unlink_device(title, uid, device)
            assert device not in [d.id for d in (await a.accounts.get_account(title, uid)).devices]
    finally:
        await b.close()
        await a.close()
