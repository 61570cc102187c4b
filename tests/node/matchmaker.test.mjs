// Real-client tests of the matchmaker: @heroiclabs/nakama-js's socket (addMatchmaker,
// onmatchmakermatched, removeMatchmaker, party matchmaking) against a live `overworld serve`.
// Run by tests/api/test_nakama_js.py (see client.test.mjs for the environment).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";

import { connected, disconnectAll, restGet, rnd } from "./support.mjs";

/** A new user with a connected socket, collecting what its matchmaker and party callbacks receive. */
const player = () =>
  connected(["onmatchmakermatched", "onpartymatchmakerticket", "onparty"], { timeoutMs: 8_000 });

after(disconnectAll);

describe("matchmaker", () => {
  test("two players are matched with a token, their properties and their own ticket", async () => {
    const mode = `duel${rnd()}`;
    const a = await player();
    const b = await player();
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

  test("matchmaker stats: waiting tickets, the oldest one, completions (GET /v2/matchmaker/stats)", async () => {
    // nakama-js 2.8.0 has no method for GetMatchmakerStats: a plain REST GET stands in for it.
    const a = await player();
    const b = await player();
    const waiting = await player();
    await waiting.socket.addMatchmaker(`+properties.mode:none${rnd()}`, 2, 2);
    const mode = `stats${rnd()}`;
    const before = (await restGet(a.session, "/v2/matchmaker/stats")).completions?.length ?? 0;
    await a.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode });
    await b.socket.addMatchmaker(`+properties.mode:${mode}`, 2, 2, { mode });
    await a.socket.next("onmatchmakermatched");
    const deadline = Date.now() + 8_000;
    let stats;
    for (;;) {
      stats = await restGet(b.session, "/v2/matchmaker/stats");
      if ((stats.completions?.length ?? 0) >= Math.min(before + 2, 10) && stats.ticket_count >= 1) break;
      assert.ok(Date.now() < deadline, `stats not updated: ${JSON.stringify(stats)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(Date.parse(stats.oldest_ticket_create_time) <= Date.now());
    const last = stats.completions.at(-1);
    assert.ok(Date.parse(last.create_time) <= Date.parse(last.complete_time));
  });

  test("a removed ticket is not matched, and removing it twice is an error", async () => {
    const mode = `gone${rnd()}`;
    const a = await player();
    const b = await player();
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
    const leader = await player();
    const member = await player();
    const solo = await player();
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
    const leader = await player();
    const party = await leader.socket.createParty(true, 2);
    const ticket = await leader.socket.addMatchmakerParty(party.party_id, `+properties.mode:x${rnd()}`, 2, 2);
    await leader.socket.removeMatchmakerParty(party.party_id, ticket.ticket);
    await assert.rejects(leader.socket.removeMatchmakerParty(party.party_id, ticket.ticket), (err) => err.code === 3);
  });
});
