// Real-client tests of friends and groups: @heroiclabs/nakama-js against a live `overworld serve`.
//
// Run by tests/api/test_nakama_js.py together with client.test.mjs (same environment variables:
// OVERWORLD_URL_HOST, OVERWORLD_URL_PORT, OVERWORLD_SERVER_KEY). Expected statuses and error
// codes are those of a real Nakama server; nakama-js throws the fetch Response on any non-2xx.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";

import { Client } from "@heroiclabs/nakama-js";

const HOST = process.env.OVERWORLD_URL_HOST;
const PORT = process.env.OVERWORLD_URL_PORT;
const SERVER_KEY = process.env.OVERWORLD_SERVER_KEY;
if (!HOST || !PORT || !SERVER_KEY) {
  throw new Error("set OVERWORLD_URL_HOST, OVERWORLD_URL_PORT and OVERWORLD_SERVER_KEY");
}

const client = new Client(SERVER_KEY, HOST, PORT, false, 10_000, false);
const rnd = () => randomUUID().replaceAll("-", "").slice(0, 16);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A fresh account: its session, id and username. */
async function newUser() {
  const name = `u${rnd()}`;
  const session = await client.authenticateDevice(`device-${rnd()}`, true, name);
  return { session, id: session.user_id, username: name };
}

/** Expect `promise` to reject with a fetch Response of HTTP `status` and gRPC `code`. */
async function expectError(promise, status, code, what = "request") {
  let error;
  try {
    const value = await promise;
    assert.fail(`${what}: expected HTTP ${status} (code ${code}), got ${JSON.stringify(value)}`);
  } catch (caught) {
    if (caught instanceof assert.AssertionError) throw caught;
    error = caught;
  }
  assert.ok(error && typeof error.status === "number", `${what}: expected a fetch Response, got ${error}`);
  const body = JSON.parse(await error.text());
  assert.equal(error.status, status, `${what}: HTTP status (body ${JSON.stringify(body)})`);
  assert.equal(body.code, code, `${what}: error code`);
  assert.equal(body.error, body.message, `${what}: error and message`);
  return body;
}

const stateOf = (list, id) => list.friends.find((f) => f.user.id === id)?.state;

describe("friends", () => {
  test("invite, accept, list with states, delete", async () => {
    const alice = await newUser();
    const bob = await newUser();
    assert.equal(await client.addFriends(alice.session, [bob.id]), true);
    let list = await client.listFriends(alice.session);
    assert.equal(list.friends.length, 1);
    assert.equal(stateOf(list, bob.id), 1);
    assert.equal(list.friends[0].user.username, bob.username);
    assert.equal(stateOf(await client.listFriends(bob.session), alice.id), 2);

    await client.addFriends(bob.session, undefined, [alice.username]);
    list = await client.listFriends(alice.session);
    assert.equal(stateOf(list, bob.id), 0, "state 0 is sent, not left out");
    assert.equal(list.friends[0].user.edge_count, 1);
    assert.equal(stateOf(await client.listFriends(bob.session, 0), alice.id), 0);

    assert.equal(await client.deleteFriends(alice.session, [bob.id]), true);
    assert.deepEqual((await client.listFriends(alice.session)).friends, []);
    assert.deepEqual((await client.listFriends(bob.session)).friends, []);
  });

  test("pages with a cursor and filters by state", async () => {
    const me = await newUser();
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await newUser());
    await client.addFriends(me.session, others.map((o) => o.id));
    const first = await client.listFriends(me.session, 1, 2);
    assert.equal(first.friends.length, 2);
    assert.ok(first.cursor);
    const second = await client.listFriends(me.session, 1, 2, first.cursor);
    assert.equal(second.friends.length, 1);
    assert.ok(!second.cursor);
    const ids = [...first.friends, ...second.friends].map((f) => f.user.id);
    assert.deepEqual(ids, others.map((o) => o.id));
    assert.deepEqual((await client.listFriends(me.session, 2)).friends, []);
  });

  test("block hides the relationship from the blocked user", async () => {
    const alice = await newUser();
    const bob = await newUser();
    await client.addFriends(alice.session, [bob.id]);
    assert.equal(await client.blockFriends(alice.session, undefined, [bob.username]), true);
    assert.equal(stateOf(await client.listFriends(alice.session), bob.id), 3);
    assert.deepEqual((await client.listFriends(bob.session)).friends, []);
    await client.addFriends(bob.session, [alice.id]); // ignored while blocked
    assert.deepEqual((await client.listFriends(bob.session)).friends, []);
  });

  test("friends of friends", async () => {
    const me = await newUser();
    const bob = await newUser();
    const carol = await newUser();
    for (const [a, b] of [[me, bob], [bob, carol]]) {
      await client.addFriends(a.session, [b.id]);
      await client.addFriends(b.session, [a.id]);
    }
    const found = await client.listFriendsOfFriends(me.session);
    assert.deepEqual(
      found.friends_of_friends.map((f) => [f.referrer, f.user.id]),
      [[bob.id, carol.id]],
    );
  });

  test("refusals carry Nakama's codes", async () => {
    const me = await newUser();
    await expectError(client.addFriends(me.session, [me.id]), 400, 3, "add self");
    await expectError(client.addFriends(me.session, ["not-a-uuid"]), 400, 3, "bad id");
    await expectError(client.addFriends(me.session, undefined, [`nobody${rnd()}`]), 400, 3, "no valid user");
    await expectError(client.blockFriends(me.session, [me.id]), 400, 3, "block self");
    await expectError(client.listFriends(me.session, 7), 400, 3, "bad state");
    assert.equal(await client.addFriends(me.session, [randomUUID()]), true, "unknown ids are ignored");
  });
});

describe("groups", () => {
  test("create, join an open group, list members and the user's groups", async () => {
    const owner = await newUser();
    const member = await newUser();
    const name = `Open ${rnd()}`;
    const group = await client.createGroup(owner.session, {
      name, description: "for everyone", lang_tag: "en", open: true, max_count: 10,
    });
    assert.match(group.id, UUID_RE);
    assert.equal(group.name, name);
    assert.equal(group.creator_id, owner.id);
    assert.equal(group.open, true);
    assert.equal(group.edge_count, 1);
    assert.equal(group.max_count, 10);
    assert.deepEqual(group.metadata, {});

    assert.equal(await client.joinGroup(member.session, group.id), true);
    const users = await client.listGroupUsers(owner.session, group.id);
    assert.deepEqual(
      users.group_users.map((u) => [u.user.id, u.state]),
      [[owner.id, 0], [member.id, 2]],
    );
    const onlyMembers = await client.listGroupUsers(owner.session, group.id, 2);
    assert.deepEqual(onlyMembers.group_users.map((u) => u.user.id), [member.id]);

    const mine = await client.listUserGroups(member.session, member.id);
    assert.equal(mine.user_groups.length, 1);
    assert.equal(mine.user_groups[0].group.id, group.id);
    assert.equal(mine.user_groups[0].group.edge_count, 2);
    assert.equal(mine.user_groups[0].state, 2);
  });

  test("closed groups take join requests that admins accept; roles change", async () => {
    const owner = await newUser();
    const asker = await newUser();
    const group = await client.createGroup(owner.session, { name: `Closed ${rnd()}`, open: false });
    assert.equal(group.open, false, "open: false is sent, not left out");
    await client.joinGroup(asker.session, group.id);
    let users = await client.listGroupUsers(owner.session, group.id, 3);
    assert.deepEqual(users.group_users.map((u) => u.user.id), [asker.id]);

    assert.equal(await client.addGroupUsers(owner.session, group.id, [asker.id]), true);
    // nakama-js 2.8.0 resolves promoteGroupUsers to the response body itself.
    assert.deepEqual(await client.promoteGroupUsers(owner.session, group.id, [asker.id]), {});
    users = await client.listGroupUsers(owner.session, group.id);
    assert.deepEqual(users.group_users.map((u) => u.state), [0, 1]);
    assert.equal(await client.demoteGroupUsers(owner.session, group.id, [asker.id]), true);
    users = await client.listGroupUsers(owner.session, group.id);
    assert.deepEqual(users.group_users.map((u) => u.state), [0, 2]);

    // A member cannot kick; the last superadmin cannot leave.
    await expectError(client.kickGroupUsers(asker.session, group.id, [owner.id]), 404, 5, "member kicks");
    await expectError(client.leaveGroup(owner.session, group.id), 400, 3, "last superadmin leaves");
    assert.equal(await client.kickGroupUsers(owner.session, group.id, [asker.id]), true);
    users = await client.listGroupUsers(owner.session, group.id);
    assert.deepEqual(users.group_users.map((u) => u.user.id), [owner.id]);
  });

  test("bans keep users out", async () => {
    const owner = await newUser();
    const troll = await newUser();
    const group = await client.createGroup(owner.session, { name: `Guarded ${rnd()}`, open: true });
    await client.joinGroup(troll.session, group.id);
    assert.equal(await client.banGroupUsers(owner.session, group.id, [troll.id]), true);
    await client.joinGroup(troll.session, group.id);
    const banned = await client.listGroupUsers(owner.session, group.id, 4);
    assert.deepEqual(banned.group_users.map((u) => [u.user.id, u.state]), [[troll.id, 4]]);
    assert.deepEqual((await client.listUserGroups(troll.session, troll.id)).user_groups, []);
  });

  test("list by name with a wildcard, update, delete", async () => {
    const owner = await newUser();
    const prefix = `Search${rnd()}`;
    const a = await client.createGroup(owner.session, { name: `${prefix} alpha` });
    const b = await client.createGroup(owner.session, { name: `${prefix} beta` });
    const first = await client.listGroups(owner.session, `${prefix.toLowerCase()}%`, undefined, 1);
    assert.deepEqual(first.groups.map((g) => g.id), [a.id]);
    assert.ok(first.cursor);
    const second = await client.listGroups(owner.session, `${prefix}%`, first.cursor, 1);
    assert.deepEqual(second.groups.map((g) => g.id), [b.id]);

    await expectError(client.createGroup(owner.session, { name: `${prefix} alpha` }), 409, 6, "name taken");
    assert.equal(await client.updateGroup(owner.session, a.id, { description: "renamed", open: true }), true);
    const [updated] = (await client.listGroups(owner.session, `${prefix} alpha`)).groups;
    assert.equal(updated.description, "renamed");
    assert.equal(updated.open, true);
    await expectError(client.updateGroup(owner.session, b.id, { name: `${prefix} alpha` }), 400, 3, "rename to taken");

    const stranger = await newUser();
    await expectError(client.deleteGroup(stranger.session, a.id), 400, 3, "stranger deletes");
    assert.equal(await client.deleteGroup(owner.session, a.id), true);
    const after = await client.listGroups(owner.session, `${prefix}%`, undefined, 10);
    assert.deepEqual(after.groups.map((g) => g.id), [b.id]);
    await expectError(client.joinGroup(stranger.session, a.id), 404, 5, "join a deleted group");
  });
});
