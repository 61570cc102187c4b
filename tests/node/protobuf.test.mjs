// The protobuf socket format (`/ws?format=protobuf`) with the official adapter,
// @heroiclabs/nakama-js-protobuf's WebSocketAdapterPb, on nakama-js's socket: binary frames both
// ways for chat, notifications, parties, relayed and authoritative match data, the matchmaker and
// RPCs. Run by tests/api/test_nakama_js.py with examples/runtime loaded.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { WebSocketAdapterPb } from "@heroiclabs/nakama-js-protobuf";

import { client, connected, disconnectAll, rnd } from "./support.mjs";

const KINDS = [
  "onchannelmessage", "onchannelpresence", "onnotification", "onparty", "onpartydata",
  "onpartypresence", "onpartyclose", "onmatchdata", "onmatchpresence", "onmatchmakermatched",
];
const user = (options = {}) => connected(KINDS, { adapter: new WebSocketAdapterPb(), prefix: "pb", ...options });
const text = (bytes) => new TextDecoder().decode(bytes);

after(disconnectAll);

describe("protobuf socket", () => {
  test("rpc, ping and errors carry their cid", async () => {
    const { socket } = await user();
    const reply = await socket.rpc("echo", JSON.stringify({ hello: "protobuf" }));
    assert.equal(reply.id, "echo");
    assert.equal(JSON.parse(reply.payload).hello, "protobuf");
    await assert.rejects(socket.rpc("no_such_rpc", "{}"), (err) => err.code === 6);
    await assert.rejects(socket.joinChat("", 1, true, false), (err) => err.code === 3);
  });

  test("room chat: presence, message with timestamps, update", async () => {
    const alice = await user();
    const bob = await user();
    const room = `room-${rnd()}`;
    const channel = await alice.socket.joinChat(room, 1, true, false);
    assert.equal(channel.id, `2...${room}`);
    assert.equal(channel.room_name, room);
    await bob.socket.joinChat(room, 1, true, false);
    await alice.socket.next("onchannelpresence", (e) => e.joins?.some((p) => p.user_id === bob.session.user_id));
    const ack = await bob.socket.writeChatMessage(channel.id, { text: "hello" });
    assert.equal(ack.channel_id, channel.id);
    assert.ok(ack.create_time instanceof Date && Math.abs(ack.create_time - Date.now()) < 60_000);
    const message = await alice.socket.next("onchannelmessage", (m) => m.message_id === ack.message_id);
    assert.deepEqual(message.content, { text: "hello" });
    assert.equal(message.sender_id, bob.session.user_id);
    assert.equal(message.persistent, true);
    await bob.socket.updateChatMessage(channel.id, ack.message_id, { text: "edited" });
    await alice.socket.next("onchannelmessage", (m) => m.code === 1 && m.content.text === "edited");
  });

  test("a direct message join notifies the other user", async () => {
    const alice = await user();
    const bob = await user();
    await alice.socket.joinChat(bob.session.user_id, 2, true, false);
    const note = await bob.socket.next("onnotification", (n) => n.code === -1);
    assert.equal(note.sender_id, alice.session.user_id);
    assert.ok(note.create_time);
  });

  test("party: create, join, binary data, close", async () => {
    const alice = await user();
    const bob = await user();
    const party = await alice.socket.createParty(true, 4);
    assert.equal(party.leader.user_id, alice.session.user_id);
    await bob.socket.joinParty(party.party_id);
    await bob.socket.next("onparty", (p) => p.party_id === party.party_id);
    await alice.socket.next("onpartypresence", (e) => e.joins?.some((p) => p.user_id === bob.session.user_id));
    await bob.socket.sendPartyData(party.party_id, 7, new Uint8Array([0, 1, 2, 255]));
    const data = await alice.socket.next("onpartydata");
    assert.equal(Number(data.op_code), 7);
    assert.deepEqual([...data.data], [0, 1, 2, 255]);
    assert.equal(data.presence.user_id, bob.session.user_id);
    await alice.socket.closeParty(party.party_id);
    await bob.socket.next("onpartyclose");
  });

  test("relayed match: binary data and an int64 op code reach the others", async () => {
    const alice = await user();
    const bob = await user();
    const match = await alice.socket.createMatch();
    await bob.socket.joinMatch(match.match_id);
    await alice.socket.next("onmatchpresence", (e) => e.joins?.some((p) => p.user_id === bob.session.user_id));
    await alice.socket.sendMatchState(match.match_id, 2 ** 40, new Uint8Array([9, 8, 7]));
    const data = await bob.socket.next("onmatchdata");
    assert.equal(Number(data.op_code), 2 ** 40);
    assert.deepEqual([...data.data], [9, 8, 7]);
    assert.equal(data.presence.user_id, alice.session.user_id);
    await alice.socket.sendMatchState(match.match_id, 5, "text");
    assert.equal(text((await bob.socket.next("onmatchdata", (d) => Number(d.op_code) === 5)).data), "text");
  });

  test("authoritative match: the handler's data comes back", async () => {
    const alice = await user();
    const rpc = await client.rpc(alice.session, "create_arena", { mode: `pb${rnd()}` });
    const matchId = rpc.payload.match_id;
    const match = await alice.socket.joinMatch(matchId);
    assert.equal(match.authoritative, true);
    assert.ok(JSON.parse(match.label).mode.startsWith("pb"));
    await alice.socket.sendMatchState(matchId, 1, "north");
    const moved = await alice.socket.next("onmatchdata", (d) => Number(d.op_code) === 2);
    assert.equal(text(moved.data), "north");
  });

  test("matchmaker: two players are matched and join with the token", async () => {
    const a = await user({ timeoutMs: 8_000 });
    const b = await user({ timeoutMs: 8_000 });
    const mode = `pb${rnd()}`;
    const ta = await a.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode }, { level: 7 });
    await b.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode });
    const ma = await a.socket.next("onmatchmakermatched");
    const mb = await b.socket.next("onmatchmakermatched");
    assert.equal(ma.ticket, ta.ticket);
    assert.ok(ma.token && ma.token === mb.token);
    assert.equal(ma.users.length, 2);
    const self = ma.users.find((u) => u.presence.user_id === a.session.user_id);
    assert.equal(self.numeric_properties.level, 7);
    const joined = await a.socket.joinMatch(undefined, ma.token);
    assert.ok(joined.match_id);
  });
});
