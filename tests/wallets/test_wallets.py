"""Wallets, the ledger and multi-updates from server code, on SQLite and PostgreSQL: Nakama's
results and rules (all or nothing, never negative), errors that name the field, idempotency keys,
the account's `wallet`, ledger pages, account deletion, and many concurrent changes of one wallet."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import pytest

from overworld.errors import Code, InvalidArgument, NotFound
from overworld.node import Node
from overworld.runtime import ServerApi, WalletNegative
from overworld.storage.models import SYSTEM_USER
from tests.conftest import Api
from tests.support import bearer, unique

pytestmark = pytest.mark.anyio
INT64_MAX = 2**63 - 1


@pytest.fixture
def nk(node: Node) -> ServerApi:
    return ServerApi(node.runtime, node.default_title, "tests")


async def new_user(api: Api) -> tuple[str, str]:
    """A new account: its id and session token."""
    session = await api.device()
    account = await api.client.get("/v2/account", headers=bearer(session["token"]))
    return account.json()["user"]["id"], session["token"]


async def wallet_of(api: Api, token: str) -> dict[str, int]:
    """The wallet as a Nakama client sees it: GetAccount's `wallet`, a JSON string."""
    response = await api.client.get("/v2/account", headers=bearer(token))
    assert response.status_code == 200, response.text
    wallet = response.json()["wallet"]
    assert isinstance(wallet, str)
    parsed: dict[str, int] = json.loads(wallet)
    return parsed


async def whole_ledger(nk: ServerApi, user_id: str) -> list[Any]:
    items: list[Any] = []
    cursor = ""
    while True:
        page = await nk.wallet_ledger_list(user_id, limit=100, cursor=cursor)
        items.extend(page.items)
        if not page.cursor:
            return items
        cursor = page.cursor


# -- wallet_update ----------------------------------------------------------------------------------


async def test_wallet_update_returns_updated_and_previous_and_the_account_shows_it(api, nk):
    user, token = await new_user(api)
    assert await wallet_of(api, token) == {}
    first = await nk.wallet_update(user, {"coins": 100, "gems": 5}, {"reason": "signup"})
    assert (first.user_id, first.updated, first.previous) == (user, {"coins": 100, "gems": 5}, {})
    second = await nk.wallet_update(user, {"coins": -30})
    assert (second.updated, second.previous) == ({"coins": 70, "gems": 5}, {"coins": 100, "gems": 5})
    assert await wallet_of(api, token) == {"coins": 70, "gems": 5}
    assert (await nk.account_get(user)).wallet == '{"coins":70,"gems":5}'
    items = await whole_ledger(nk, user)
    assert [(i.changeset, i.metadata) for i in items] == [
        ({"coins": -30}, {}),
        ({"coins": 100, "gems": 5}, {"reason": "signup"}),
    ]  # newest first
    assert all(i.user_id == user and i.create_time == i.update_time > 0 for i in items)
    uuid.UUID(items[0].id)


async def test_without_update_ledger_no_ledger_row_is_written(api, nk):
    user, token = await new_user(api)
    await nk.wallet_update(user, {"coins": 10}, update_ledger=False)
    await nk.wallet_update(user, {"coins": 1}, {"n": 2})
    assert await wallet_of(api, token) == {"coins": 11}
    assert [i.changeset for i in await whole_ledger(nk, user)] == [{"coins": 1}]


async def test_a_change_that_would_go_negative_applies_nothing(api, nk):
    user, token = await new_user(api)
    await nk.wallet_update(user, {"coins": 10, "gems": 3})
    with pytest.raises(WalletNegative) as refused:
        await nk.wallet_update(user, {"coins": 5, "gems": -4})  # coins fine, gems not: neither applies
    error = refused.value
    assert error.code == Code.FAILED_PRECONDITION and error.http_status == 400
    assert (error.user_id, error.currency, error.current, error.amount) == (user, "gems", 3, -4)
    assert "'gems'" in error.message and "negative" in error.message
    with pytest.raises(WalletNegative):
        await nk.wallet_update(user, {"tokens": -1})  # a currency never held counts as 0
    assert await wallet_of(api, token) == {"coins": 10, "gems": 3}
    assert len(await whole_ledger(nk, user)) == 1


@pytest.mark.parametrize(
    ("changeset", "field", "what"),
    [
        ({"coins": 1.5}, "changeset.coins", "must be an integer"),
        ({"coins": "5"}, "changeset.coins", "must be an integer"),
        ({"coins": True}, "changeset.coins", "must be an integer"),
        ({"coins": None}, "changeset.coins", "must be an integer"),
        ({"coins": INT64_MAX + 1}, "changeset.coins", "beyond int64"),
        ({"coins": -(2**63) - 1}, "changeset.coins", "beyond int64"),
        ({"coins": 10**5000}, "changeset.coins", "beyond int64"),
        ({"": 1}, "changeset", "currency names"),
        ({"x" * 129: 1}, "changeset", "currency names"),
        ([("coins", 1)], "changeset", "must be an object"),
    ],
)
async def test_bad_amounts_are_refused_naming_the_field(api, nk, changeset, field, what):
    user, token = await new_user(api)
    await nk.wallet_update(user, {"coins": 1})
    with pytest.raises(InvalidArgument) as refused:
        await nk.wallet_update(user, changeset)
    assert refused.value.message.startswith(f"{field}:") and what in refused.value.message
    assert await wallet_of(api, token) == {"coins": 1}


async def test_a_balance_beyond_int64_is_refused(api, nk):
    user, token = await new_user(api)
    await nk.wallet_update(user, {"coins": INT64_MAX - 1, "gems": 1})
    with pytest.raises(InvalidArgument) as refused:
        await nk.wallet_update(user, {"gems": 1, "coins": 2})
    assert refused.value.message.startswith("changeset.coins:") and "beyond int64" in refused.value.message
    assert (await nk.wallet_update(user, {"coins": 1})).updated == {"coins": INT64_MAX, "gems": 1}
    assert await wallet_of(api, token) == {"coins": INT64_MAX, "gems": 1}


async def test_unknown_and_malformed_users_are_refused_naming_the_field(node, api, nk):
    with pytest.raises(InvalidArgument) as unknown:
        await nk.wallet_update(str(uuid.uuid4()), {"coins": 1})
    assert unknown.value.message.startswith("user_id: no user")
    with pytest.raises(InvalidArgument) as malformed:
        await nk.wallet_update("not-a-uuid", {"coins": 1})
    assert malformed.value.message.startswith("user_id: invalid user ID")
    with pytest.raises(InvalidArgument) as metadata:
        await nk.wallet_update(str(uuid.uuid4()), {"coins": 1}, "[1, 2]")
    assert metadata.value.message.startswith("metadata:")
    # A user of another title is unknown here.
    other = await node.titles.create(unique("other"))
    user, _ = await new_user(api)
    with pytest.raises(InvalidArgument):
        await ServerApi(node.runtime, other, "tests").wallet_update(user, {"coins": 1})


# -- wallets_update ---------------------------------------------------------------------------------


async def test_wallets_update_is_all_or_nothing(api, nk):
    (a, token_a), (b, token_b) = await new_user(api), await new_user(api)
    await nk.wallets_update(
        [
            {"user_id": a, "changeset": {"gold": 100}},
            {"user_id": b, "changeset": {"gold": 5}, "metadata": {"k": 1}},
        ]
    )
    with pytest.raises(WalletNegative) as refused:
        await nk.wallets_update(
            [{"user_id": a, "changeset": {"gold": -50}}, {"user_id": b, "changeset": {"gold": -10}}]
        )
    assert refused.value.user_id == b
    with pytest.raises(InvalidArgument) as unknown:
        await nk.wallets_update(
            [
                {"user_id": a, "changeset": {"gold": -50}},
                {"user_id": str(uuid.uuid4()), "changeset": {"gold": 1}},
            ]
        )
    assert unknown.value.message.startswith("updates[1].user_id: no user")
    with pytest.raises(InvalidArgument) as bad:
        await nk.wallets_update(
            [{"user_id": a, "changeset": {"gold": -50}}, {"user_id": b, "changeset": {"gold": 0.5}}]
        )
    assert bad.value.message.startswith("updates[1].changeset.gold:")
    assert (await wallet_of(api, token_a), await wallet_of(api, token_b)) == ({"gold": 100}, {"gold": 5})
    # A trade: one pays, the other is paid, in one transaction.
    results = await nk.wallets_update(
        [{"user_id": a, "changeset": {"gold": -60}}, {"user_id": b, "changeset": {"gold": 60}}]
    )
    assert [(r.user_id, r.previous, r.updated) for r in results] == [
        (a, {"gold": 100}, {"gold": 40}),
        (b, {"gold": 5}, {"gold": 65}),
    ]
    assert len(await whole_ledger(nk, a)) == 2 and len(await whole_ledger(nk, b)) == 2


async def test_updates_of_one_user_in_a_call_apply_in_order(api, nk):
    user, token = await new_user(api)
    results = await nk.wallets_update(
        [{"user_id": user, "changeset": {"c": 5}}, {"user_id": user, "changeset": {"c": -3, "d": 1}}]
    )
    assert [(r.previous, r.updated) for r in results] == [({}, {"c": 5}), ({"c": 5}, {"c": 2, "d": 1})]
    with pytest.raises(WalletNegative):  # the second would take more than the first gave
        await nk.wallets_update(
            [{"user_id": user, "changeset": {"c": 1}}, {"user_id": user, "changeset": {"c": -4}}]
        )
    assert await wallet_of(api, token) == {"c": 2, "d": 1}


async def test_wallets_update_refuses_malformed_updates(nk):
    for updates, start in [
        ([{"user_id": str(uuid.uuid4()), "changes": {}}], "updates[0]: unknown field"),
        (["x"], "updates[0]: must be a mapping"),
        ({"user_id": "x"}, "updates: must be a list"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            await nk.wallets_update(updates)
        assert refused.value.message.startswith(start)
    assert await nk.wallets_update([]) == []


# -- idempotency ------------------------------------------------------------------------------------


async def test_a_retry_with_the_same_idempotency_key_applies_once(api, nk):
    user, token = await new_user(api)
    first = await nk.wallet_update(user, {"coins": 50}, {"order": 7}, idempotency_key="order-7")
    await nk.wallet_update(user, {"coins": 1})
    again = await nk.wallet_update(user, {"coins": 50}, {"order": 7}, idempotency_key="order-7")
    assert (again.updated, again.previous) == (first.updated, first.previous) == ({"coins": 50}, {})
    assert await wallet_of(api, token) == {"coins": 51}
    assert len(await whole_ledger(nk, user)) == 2
    with pytest.raises(InvalidArgument) as reused:  # the same key for another change
        await nk.wallet_update(user, {"coins": 500}, {"order": 7}, idempotency_key="order-7")
    assert reused.value.message.startswith("idempotency_key:")
    # Keys of wallet_update are per user: another user's "order-7" is another change.
    other, other_token = await new_user(api)
    await nk.wallet_update(other, {"coins": 50}, {"order": 7}, idempotency_key="order-7")
    assert await wallet_of(api, other_token) == {"coins": 50}
    with pytest.raises(InvalidArgument):
        await nk.wallet_update(user, {"coins": 1}, idempotency_key="k" * 129)


async def test_a_failed_change_records_nothing_so_it_can_be_retried(api, nk):
    user, token = await new_user(api)
    with pytest.raises(WalletNegative):
        await nk.wallet_update(user, {"coins": -5}, idempotency_key="spend-1")
    await nk.wallet_update(user, {"coins": 10})
    assert (await nk.wallet_update(user, {"coins": -5}, idempotency_key="spend-1")).updated == {"coins": 5}
    assert (await nk.wallet_update(user, {"coins": -5}, idempotency_key="spend-1")).updated == {"coins": 5}
    assert await wallet_of(api, token) == {"coins": 5}


async def test_concurrent_retries_of_one_key_apply_once(api, nk):
    user, token = await new_user(api)
    results = await asyncio.gather(
        *(nk.wallet_update(user, {"coins": 7}, idempotency_key="grant") for _ in range(20)),
        *(nk.wallet_update(user, {"coins": 1}) for _ in range(5)),
    )
    grants = results[:20]
    assert len({(json.dumps(r.updated), json.dumps(r.previous)) for r in grants}) == 1
    assert await wallet_of(api, token) == {"coins": 12}
    assert sorted(i.changeset["coins"] for i in await whole_ledger(nk, user)) == [1, 1, 1, 1, 1, 7]


async def test_wallets_update_keys_belong_to_the_title(api, nk):
    (a, token_a), (b, _) = await new_user(api), await new_user(api)
    trade = [{"user_id": a, "changeset": {"g": 3}}, {"user_id": b, "changeset": {"g": 4}}]
    first = await nk.wallets_update(trade, idempotency_key="trade-1")
    again = await nk.wallets_update(trade, idempotency_key="trade-1")
    assert [(r.user_id, r.updated) for r in again] == [(r.user_id, r.updated) for r in first]
    assert await wallet_of(api, token_a) == {"g": 3}
    with pytest.raises(InvalidArgument):
        await nk.wallets_update(trade[:1], idempotency_key="trade-1")


async def test_a_key_recorded_meanwhile_by_another_transaction_wins(node, api, nk):
    # Another node records the same call-wide key while this call is being applied: this call's
    # transaction finds the key taken when it writes, starts again and answers the recorded result.
    user, token = await new_user(api)
    from overworld.wallets import validation

    digest = validation.request_hash("wallets", [[user, {"c": 1}, "{}"]], True)
    recorded = json.dumps({"wallets": [{"user_id": user, "updated": {"c": 99}, "previous": {}}]})
    inserted, release = asyncio.Event(), asyncio.Event()

    async def other_node() -> None:
        async with node.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO wallet_requests (title_id, scope, key, request_hash, result, create_time)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                node.default_title.id, SYSTEM_USER, "raced", digest, recorded, 1,
            )  # fmt: skip
            inserted.set()
            await release.wait()

    other = asyncio.create_task(other_node())
    await inserted.wait()
    call = asyncio.create_task(
        nk.wallets_update([{"user_id": user, "changeset": {"c": 1}}], idempotency_key="raced")
    )
    await asyncio.sleep(0.3)
    assert not call.done()
    release.set()
    await other
    [result] = await call
    assert result.updated == {"c": 99}
    assert await wallet_of(api, token) == {} and await whole_ledger(nk, user) == []


# -- the ledger -------------------------------------------------------------------------------------


async def test_ledger_pages_newest_first_with_cursors(api, nk):
    user, _ = await new_user(api)
    for n in range(1, 8):
        await nk.wallet_update(user, {"n": n}, {"n": n})
    seen: list[int] = []
    page = await nk.wallet_ledger_list(user, limit=3)
    pages = 1
    while page.cursor:
        seen.extend(i.changeset["n"] for i in page.items)
        page = await nk.wallet_ledger_list(user, limit=3, cursor=page.cursor)
        pages += 1
    seen.extend(i.changeset["n"] for i in page.items)
    assert seen == [7, 6, 5, 4, 3, 2, 1] and pages == 3
    other, _ = await new_user(api)
    with pytest.raises(InvalidArgument):  # a cursor is for the ledger it came from
        await nk.wallet_ledger_list(
            other, limit=3, cursor=(await nk.wallet_ledger_list(user, limit=3)).cursor
        )
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "garbage"}):
        with pytest.raises(InvalidArgument):
            await nk.wallet_ledger_list(user, **bad)
    assert (await nk.wallet_ledger_list(str(uuid.uuid4()))).items == []


async def test_ledger_update_merges_metadata(api, nk):
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"coins": 9}, {"source": "shop", "order": 1})
    [item] = await whole_ledger(nk, user)
    updated = await nk.wallet_ledger_update(item.id, {"refunded": True, "order": 2})
    assert updated.metadata == {"source": "shop", "order": 2, "refunded": True}
    assert updated.changeset == {"coins": 9} and updated.update_time >= item.update_time
    [stored] = await whole_ledger(nk, user)
    assert stored.metadata == updated.metadata
    with pytest.raises(NotFound):
        await nk.wallet_ledger_update(str(uuid.uuid4()), {})
    with pytest.raises(InvalidArgument):
        await nk.wallet_ledger_update("nope", {})


# -- multi_update -----------------------------------------------------------------------------------


async def test_multi_update_writes_accounts_storage_and_wallets_together(api, nk):
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gems": 500})
    done = await nk.multi_update(
        account_updates=[{"user_id": user, "metadata": {"vip": True}, "display_name": "Vip"}],
        storage_writes=[
            {"collection": "vip", "key": "since", "user_id": user, "value": {"day": 1}},
            {"collection": "audit", "key": "vip", "value": {"user": user}},
        ],
        wallet_updates=[{"user_id": user, "changeset": {"gems": -500, "badges": 1}, "metadata": {"vip": 1}}],
    )
    assert [(a.collection, a.key, a.user_id) for a in done.acks] == [
        ("vip", "since", user),
        ("audit", "vip", SYSTEM_USER),
    ]
    assert [(r.previous, r.updated) for r in done.wallets] == [({"gems": 500}, {"badges": 1, "gems": 0})]
    account = await nk.account_get(user)
    assert json.loads(account.user.metadata) == {"vip": True} and account.user.display_name == "Vip"
    assert json.loads(account.wallet) == {"badges": 1, "gems": 0}
    assert await wallet_of(api, token) == {"badges": 1, "gems": 0}
    [obj] = await nk.storage_read([{"collection": "vip", "key": "since", "user_id": user}])
    assert json.loads(obj.value) == {"day": 1}


async def test_multi_update_applies_nothing_when_any_part_fails(api, nk):
    user, token = await new_user(api)
    await nk.wallet_update(user, {"gems": 10})
    before = await nk.account_get(user)
    parts: dict[str, Any] = {
        "account_updates": [{"user_id": user, "display_name": "Changed"}],
        "storage_writes": [{"collection": "vip", "key": "k", "user_id": user, "value": {"a": 1}}],
        "wallet_updates": [{"user_id": user, "changeset": {"gems": -5}}],
    }
    failing = [
        ({"wallet_updates": [{"user_id": user, "changeset": {"gems": -11}}]}, WalletNegative),
        ({"storage_writes": [{"collection": "vip", "key": "k", "user_id": user, "value": {}, "version": "x"}]},
         InvalidArgument),
        ({"account_updates": [{"user_id": str(uuid.uuid4()), "display_name": "x"}]}, InvalidArgument),
        ({"account_updates": [{"user_id": user, "username": (await nk.users_get([user]))[0].username + "!" * 200}]},
         InvalidArgument),
        ({"wallet_updates": [{"user_id": user, "changeset": {"gems": 2**63}}]}, InvalidArgument),
        ({"storage_writes": [{"collection": "vip", "key": "k", "user_id": str(uuid.uuid4()), "value": {}}]},
         NotFound),  # an object of an unknown owner
    ]  # fmt: skip
    for change, error in failing:
        with pytest.raises(error):
            await nk.multi_update(**(parts | change))
    assert await wallet_of(api, token) == {"gems": 10}
    assert (await nk.account_get(user)).user.display_name == before.user.display_name
    assert await nk.storage_read([{"collection": "vip", "key": "k", "user_id": user}]) == []
    assert len(await whole_ledger(nk, user)) == 1


async def test_multi_update_username_clash_applies_nothing(api, nk):
    (user, token), (other, _) = await new_user(api), await new_user(api)
    [taken] = await nk.users_get([other])
    with pytest.raises(InvalidArgument):
        await nk.multi_update(
            account_updates=[{"user_id": user, "username": taken.username}],
            wallet_updates=[{"user_id": user, "changeset": {"gems": 1}}],
        )
    assert await wallet_of(api, token) == {}


async def test_multi_update_with_an_idempotency_key_applies_once(api, nk):
    user, token = await new_user(api)
    call = {
        "storage_writes": [
            {"collection": "c", "key": "k", "user_id": user, "value": {"v": 1}, "version": "*"}
        ],
        "wallet_updates": [{"user_id": user, "changeset": {"gems": 3}}],
        "idempotency_key": "claim-1",
    }
    first = await nk.multi_update(**call)
    again = await nk.multi_update(**call)  # a "*" write would fail if it ran again
    assert [a.version for a in again.acks] == [a.version for a in first.acks]
    assert [r.updated for r in again.wallets] == [{"gems": 3}]
    assert await wallet_of(api, token) == {"gems": 3}


# -- account deletion -------------------------------------------------------------------------------


async def test_deleting_an_account_deletes_its_wallet_and_ledger(api, nk):
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"coins": 5}, idempotency_key="k")
    [item] = await whole_ledger(nk, user)
    await nk.account_delete(user)
    assert await whole_ledger(nk, user) == []
    with pytest.raises(NotFound):
        await nk.wallet_ledger_update(item.id, {"x": 1})
    with pytest.raises(InvalidArgument):
        await nk.wallet_update(user, {"coins": 1}, idempotency_key="k")


async def test_deleting_an_account_while_its_wallet_changes_leaves_nothing_behind(node, api, nk):
    user, _ = await new_user(api)
    await nk.wallet_update(user, {"coins": 1})
    changes = [asyncio.create_task(nk.wallet_update(user, {"coins": 1}, {"n": n})) for n in range(50)]
    await asyncio.sleep(0)  # the first batch is on its way
    await nk.account_delete(user)
    changes += [asyncio.create_task(nk.wallet_update(user, {"coins": 1})) for _ in range(10)]
    outcomes = await asyncio.gather(*changes, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, InvalidArgument) and "no user" in o.message for o in refused)
    assert len(refused) >= 10  # at least those sent after the deletion
    left = await node.db.fetchval(
        "SELECT count(*) FROM wallet_ledger WHERE title_id = $1 AND user_id = $2", node.default_title.id, user
    )
    assert left == 0


# -- under load -------------------------------------------------------------------------------------


async def test_a_thousand_concurrent_changes_of_one_wallet_keep_an_exact_ledger(node, api, nk):
    user, token = await new_user(api)
    rng = random.Random(14)
    changes = [rng.choice((3, -5, -1, 2)) for _ in range(1000)]
    batches = node.wallets.batches
    outcomes = await asyncio.gather(
        *(nk.wallet_update(user, {"coins": c}, {"i": i}) for i, c in enumerate(changes)),
        return_exceptions=True,
    )
    applied = [c for c, o in zip(changes, outcomes, strict=True) if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, WalletNegative) for o in refused)
    assert applied and refused  # both happened: the balance was at zero at times
    balance = sum(applied)
    assert await wallet_of(api, token) == {"coins": balance}
    ledger = await whole_ledger(nk, user)
    assert sorted(i.metadata["i"] for i in ledger) == sorted(
        i for i, o in enumerate(outcomes) if not isinstance(o, BaseException)
    )
    assert sum(i.changeset["coins"] for i in ledger) == balance
    # Replayed from the oldest, the ledger never takes the balance below zero.
    running = 0
    for item in reversed(ledger):
        running += item.changeset["coins"]
        assert running >= 0
    # Each result is consistent: updated = previous + change, never negative.
    for change, outcome in zip(changes, outcomes, strict=True):
        if not isinstance(outcome, BaseException):
            assert outcome.updated["coins"] == outcome.previous.get("coins", 0) + change >= 0
    assert node.wallets.batches - batches < 1000  # grouped into batches


# -- the REST extension (players read their own wallet and ledger) --------------------------------


async def test_players_read_their_wallet_and_ledger_over_rest(api, nk):
    user, token = await new_user(api)
    other, other_token = await new_user(api)
    for n in range(1, 4):
        await nk.wallet_update(user, {"coins": 10 * n}, {"round": n})
    await nk.wallet_update(other, {"gems": 1})
    client = api.client
    response = await client.get("/v2/overworld/wallet", headers=bearer(token))
    assert response.status_code == 200 and response.json() == {"wallet": {"coins": 60}}
    first = await client.get("/v2/overworld/wallet/ledger", params={"limit": 2}, headers=bearer(token))
    assert first.status_code == 200, first.text
    page = first.json()
    assert [(i["changeset"], i["metadata"]) for i in page["items"]] == [
        ({"coins": 30}, {"round": 3}),
        ({"coins": 20}, {"round": 2}),
    ]
    assert page["cursor"] and page["items"][0]["create_time"].endswith("Z")
    rest = await client.get(
        "/v2/overworld/wallet/ledger", params={"limit": 2, "cursor": page["cursor"]}, headers=bearer(token)
    )
    assert [i["changeset"] for i in rest.json()["items"]] == [{"coins": 10}] and rest.json()["cursor"] == ""
    # A cursor of another player's ledger, a bad limit, no session: refused.
    stolen = await client.get(
        "/v2/overworld/wallet/ledger", params={"cursor": page["cursor"]}, headers=bearer(other_token)
    )
    assert stolen.status_code == 400 and stolen.json()["code"] == 3
    bad = await client.get("/v2/overworld/wallet/ledger", params={"limit": 0}, headers=bearer(token))
    assert bad.status_code == 400
    assert (await client.get("/v2/overworld/wallet")).status_code == 401
    mine = await client.get("/v2/overworld/wallet", headers=bearer(other_token))
    assert mine.json() == {"wallet": {"gems": 1}}
