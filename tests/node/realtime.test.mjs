// Real-client tests of the realtime socket: @heroiclabs/nakama-js's DefaultSocket against a live
// `overworld serve`. Run by tests/api/test_nakama_js.py (see client.test.mjs for the environment);
// Node 20 needs `--experimental-websocket` for the global WebSocket nakama-js uses.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { client, connected, disconnectAll, restGet, rnd } from "./support.mjs";

const KINDS = [
  "onchannelmessage", "onchannelpresence", "onstatuspresence", "onnotification", "onparty",
  "onpartydata", "onpartypresence", "onpartyleader", "onpartyclose", "onpartyjoinrequest", "ondisconnect",
];
/** A new user with a connected socket; `events` collects what the socket's callbacks receive. */
const user = (createStatus = false) => connected(KINDS, { createStatus });

after(disconnectAll);

describe("realtime socket", () => {
  test("rpc over the socket reaches server code", async () => {
    const { socket } = await user();
    const reply = await socket.rpc("echo", JSON.stringify({ hello: "socket" }));
    assert.equal(reply.id, "echo");
    assert.deepEqual(JSON.parse(reply.payload).hello, "socket");
    await assert.rejects(socket.rpc("no_such_rpc", "{}"), (err) => err.code === 6);
  });

  test("room chat: join, presence, message, update, remove and history", async () => {
    const alice = await user();
    const bob = await user();
    const room = `room-${rnd()}`;
    const channel = await alice.socket.joinChat(room, 1, true, false);
    assert.equal(channel.id, `2...${room}`);
    await bob.socket.joinChat(room, 1, true, false);
    await alice.socket.next("onchannelpresence", (e) => e.joins?.some((p) => p.user_id === bob.session.user_id));

    const ack = await bob.socket.writeChatMessage(channel.id, { text: "hello" });
    assert.equal(ack.channel_id, channel.id);
    const message = await alice.socket.next("onchannelmessage", (m) => m.message_id === ack.message_id);
    assert.deepEqual(message.content, { text: "hello" });
    assert.equal(message.sender_id, bob.session.user_id);

    await bob.socket.updateChatMessage(channel.id, ack.message_id, { text: "edited" });
    await alice.socket.next("onchannelmessage", (m) => m.code === 1 && m.content.text === "edited");
    const history = await client.listChannelMessages(alice.session, channel.id, 10, true);
    assert.deepEqual(history.messages.map((m) => m.content), [{ text: "edited" }]);
    await bob.socket.removeChatMessage(channel.id, ack.message_id);
    const empty = await client.listChannelMessages(alice.session, channel.id, 10, true);
    assert.equal(empty.messages?.length ?? 0, 0);
    await bob.socket.leaveChat(channel.id);
    await alice.socket.next("onchannelpresence", (e) => e.leaves?.some((p) => p.user_id === bob.session.user_id));
  });

  test("a direct message sends a notification, listed and deleted over REST", async () => {
    const alice = await user();
    const bob = await user();
    await alice.socket.joinChat(bob.session.user_id, 2, true, false);
    const note = await bob.socket.next("onnotification", (n) => n.code === -1);
    assert.equal(note.sender_id, alice.session.user_id);
    const list = await client.listNotifications(bob.session, 10);
    assert.equal(list.notifications.length, 1);
    assert.ok(list.cacheable_cursor);
    await client.deleteNotifications(bob.session, [list.notifications[0].id]);
    assert.equal((await client.listNotifications(bob.session, 10)).notifications?.length ?? 0, 0);
  });

  test("status: follow a user and see their status change", async () => {
    const alice = await user(true);
    const bob = await user();
    const status = await bob.socket.followUsers([alice.session.user_id]);
    assert.equal(status.presences[0].user_id, alice.session.user_id);
    await alice.socket.updateStatus("in the lobby");
    const event = await bob.socket.next("onstatuspresence", (e) => e.joins?.[0]?.status === "in the lobby");
    assert.equal(event.joins[0].user_id, alice.session.user_id);
  });

  test("parties: create, join, data, close", async () => {
    const alice = await user();
    const bob = await user();
    const party = await alice.socket.createParty(true, 4);
    assert.equal(party.leader.user_id, alice.session.user_id);
    await bob.socket.joinParty(party.party_id);
    const joined = await bob.socket.next("onparty");
    assert.equal(joined.party_id, party.party_id);
    await alice.socket.next("onpartypresence", (e) => e.joins?.some((p) => p.user_id === bob.session.user_id));
    await bob.socket.sendPartyData(party.party_id, 3, "ready");
    const data = await alice.socket.next("onpartydata");
    assert.equal(data.op_code, 3);
    assert.equal(data.presence.user_id, bob.session.user_id);
    await alice.socket.closeParty(party.party_id);
    await bob.socket.next("onpartyclose");
  });

  test("parties: labels, hidden, party_update by the leader, listing by label query", async () => {
    // nakama-js 2.8.0's createParty takes (open, max_size) only and it has no updateParty or
    // listParties: the socket's generic send() and a plain REST GET stand in for them.
    const alice = await user();
    const bob = await user();
    const tag = `t${rnd()}`;
    const label = JSON.stringify({ tag, convo_ids: ["c1", "c2"] });
    const created = await alice.socket.send({ party_create: { open: true, max_size: 4, label } });
    const partyId = created.party.party_id;
    assert.equal(created.party.label, label);
    const hidden = await bob.socket.send({ party_create: { open: true, max_size: 2, hidden: true } });
    const listed = await restGet(bob.session, "/v2/party", { limit: 100, query: `+label.convo_ids:c2 +label.tag:${tag}` });
    assert.deepEqual(listed.parties.map((p) => p.party_id), [partyId]);
    assert.equal(listed.parties[0].max_size, 4);
    const all = await restGet(bob.session, "/v2/party", { limit: 100 });
    assert.ok(!(all.parties ?? []).some((p) => p.party_id === hidden.party.party_id));
    // Only the leader updates; the listing follows.
    await bob.socket.joinParty(partyId);
    await bob.socket.next("onparty");
    await assert.rejects(bob.socket.send({ party_update: { party_id: partyId, label: "{}", open: true } }), (e) => {
      assert.equal(e.code, 3);
      return true;
    });
    const newLabel = JSON.stringify({ tag, convo_ids: ["c9"] });
    await alice.socket.send({ party_update: { party_id: partyId, label: newLabel, open: false } });
    const closed = await restGet(bob.session, "/v2/party", { limit: 10, open: "false", query: `+label.convo_ids:c9 +label.tag:${tag}` });
    assert.deepEqual(closed.parties.map((p) => [p.party_id, p.label, p.open ?? false]), [[partyId, newLabel, false]]);
  });

  test("logout ends the socket", async () => {
    const alice = await user();
    await client.sessionLogout(alice.session, alice.session.token, alice.session.refresh_token);
    await alice.socket.next("ondisconnect");
  });
});
