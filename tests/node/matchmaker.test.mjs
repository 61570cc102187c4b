// Real-client tests of the matchmaker: @heroiclabs/nakama-js's socket (addMatchmaker,
// onmatchmakermatched, removeMatchmaker, party matchmaking) against a live `overworld serve`.
// Run by tests/test_nakama_js.py (see client.test.mjs for the environment).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";

import { Client } from "@heroiclabs/nakama-js";

const HOST = process.env.OVERWORLD_URL_HOST;
const PORT = process.env.OVERWORLD_URL_PORT;
const SERVER_KEY = process.env.OVERWORLD_SERVER_KEY;
if (!HOST || !PORT || !SERVER_KEY) {
  throw new Error("set OVERWORLD_URL_HOST, OVERWORLD_URL_PORT and OVERWORLD_SERVER_KEY");
}

const client = new Client(SERVER_KEY, HOST, PORT, false, 10_000, false);
const rnd = () => randomUUID().replaceAll("-", "").slice(0, 12);
const sockets = [];

/** A new user with a connected socket, collecting what its matchmaker and party callbacks receive. */
async function connected() {
  const session = await client.authenticateDevice(`device-${rnd()}`, true, `u${rnd()}`);
  const socket = client.createSocket(false, false);
  const events = {};
  const waiters = {};
  for (const kind of ["onmatchmakermatched", "onpartymatchmakerticket", "onparty"]) {
    events[kind] = [];
    socket[kind] = (value) => {
      events[kind].push(value);
      (waiters[kind] ?? []).splice(0).forEach((resolve) => resolve());
    };
  }
  socket.next = async (kind, timeoutMs = 8_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (events[kind].length) return events[kind][0];
      const left = deadline - Date.now();
      assert.ok(left > 0, `no ${kind} arrived`);
      await new Promise((resolve) => {
        (waiters[kind] ??= []).push(resolve);
        setTimeout(resolve, left);
      });
    }
  };
  await socket.connect(session, false);
  sockets.push(socket);
  return { session, socket, events };
}

after(() => sockets.forEach((s) => s.disconnect(false)));

describe("matchmaker", () => {
  test("two players are matched with a token, their properties and their own ticket", async () => {
    const mode = `duel${rnd()}`;
    const a = await connected();
    const b = await connected();
    const ta = await a.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode }, { level: 7 });
    const tb = await b.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode });
    assert.ok(ta.ticket && tb.ticket && ta.ticket !== tb.ticket);
    const ma = await a.socket.next("onmatchmakermatched");
    const mb = await b.socket.next("onmatchmakermatched");
    assert.equal(ma.ticket, ta.ticket);
    assert.equal(mb.ticket, tb.ticket);
    assert.ok(ma.token && ma.token === mb.token && !ma.match_id);
    assert.equal(ma.self.presence.user_id, a.session.user_id);
    assert.deepEqual(ma.self.numeric_properties, { level: 7 });
    const users = ma.users.map((u) => u.presence.user_id).sort();
    assert.deepEqual(users, [a.session.user_id, b.session.user_id].sort());
  });

  test("a removed ticket is not matched, and removing it twice is an error", async () => {
    const mode = `gone${rnd()}`;
    const a = await connected();
    const b = await connected();
    const ticket = await a.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode });
    await a.socket.removeMatchmaker(ticket.ticket);
    await assert.rejects(a.socket.removeMatchmaker(ticket.ticket), (err) => {
      assert.equal(err.code, 3);
      assert.equal(err.message, "Matchmaker ticket not found");
      return true;
    });
    await b.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(a.events.onmatchmakermatched.length, 0);
    assert.equal(b.events.onmatchmakermatched.length, 0);
    await assert.rejects(a.socket.addMatchmaker("*", 1, 2), (err) => err.code === 3);
  });

  test("a party leader matchmakes for the party", async () => {
    const mode = `party${rnd()}`;
    const leader = await connected();
    const member = await connected();
    const solo = await connected();
    const party = await leader.socket.createParty(true, 3);
    await member.socket.joinParty(party.party_id);
    await member.socket.next("onparty");
    const ticket = await leader.socket.addMatchmakerParty(party.party_id, `+properties.mode:${mode}`, 3, 3, { mode });
    assert.equal(ticket.party_id, party.party_id);
    const told = await member.socket.next("onpartymatchmakerticket");
    assert.equal(told.ticket, ticket.ticket);
    await solo.socket.addMatchmaker(`+properties.mode:${mode}`, 3, 3, { mode });
    for (const p of [leader, member, solo]) {
      const matched = await p.socket.next("onmatchmakermatched");
      assert.equal(matched.users.length, 3);
    }
    const matched = await member.socket.next("onmatchmakermatched");
    assert.equal(matched.ticket, ticket.ticket);
    assert.equal(matched.self.party_id, party.party_id);
  });

  test("a party ticket can be removed by the leader", async () => {
    const leader = await connected();
    const party = await leader.socket.createParty(true, 2);
    const ticket = await leader.socket.addMatchmakerParty(party.party_id, `+properties.mode:x${rnd()}`, 2, 2);
    await leader.socket.removeMatchmakerParty(party.party_id, ticket.ticket);
    await assert.rejects(leader.socket.removeMatchmakerParty(party.party_id, ticket.ticket), (err) => err.code === 3);
  });
});
