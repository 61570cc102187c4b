// Real-client tests of matches: @heroiclabs/nakama-js's socket against a live `overworld serve`
// with examples/runtime (the "arena" authoritative match). Run by tests/api/test_nakama_js.py.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";

import { client, connected, disconnectAll, rnd } from "./support.mjs";

const text = (bytes) => new TextDecoder().decode(bytes);
const player = () => connected(["onmatchdata", "onmatchpresence"], { prefix: "m" });

after(disconnectAll);

describe("matches", () => {
  test("relayed: create, join, data to all and to some, presence events, leave", async () => {
    const alice = await player();
    const bob = await player();
    const carol = await player();
    const match = await alice.socket.createMatch();
    assert.ok(match.match_id.endsWith("."));
    const joined = await bob.socket.joinMatch(match.match_id);
    assert.deepEqual(joined.presences.map((p) => p.user_id), [alice.session.user_id]);
    await alice.socket.take("onmatchpresence", (e) => e.joins?.some((p) => p.user_id === bob.session.user_id));
    const carolIn = await carol.socket.joinMatch(match.match_id);

    await alice.socket.sendMatchState(match.match_id, 42, "hello");
    for (const who of [bob, carol]) {
      const data = await who.socket.take("onmatchdata");
      assert.equal(data.op_code, 42);
      assert.equal(text(data.data), "hello");
      assert.equal(data.presence.user_id, alice.session.user_id);
    }
    await alice.socket.sendMatchState(match.match_id, 43, "only carol", [carolIn.self]);
    assert.equal(text((await carol.socket.take("onmatchdata", (d) => d.op_code === 43)).data), "only carol");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(!bob.events.onmatchdata.some((d) => d.op_code === 43));
    assert.equal(alice.events.onmatchdata.length, 0); // no echo to the sender

    await bob.socket.leaveMatch(match.match_id);
    await alice.socket.take("onmatchpresence", (e) => e.leaves?.some((p) => p.user_id === bob.session.user_id));
    await assert.rejects(bob.socket.joinMatch(`${randomUUID()}.`), (err) => err.code === 4);
  });

  test("authoritative: an RPC starts an arena, players join, move, list it, and leave", async () => {
    const alice = await player();
    const bob = await player();
    const rpc = await client.rpc(alice.session, "create_arena", { mode: `ranked${rnd()}` });
    const matchId = rpc.payload.match_id;
    const mode = JSON.parse((await alice.socket.joinMatch(matchId)).label).mode;
    const match = await bob.socket.joinMatch(matchId);
    assert.equal(match.authoritative, true);

    await alice.socket.sendMatchState(matchId, 1, "north");
    for (const who of [alice, bob]) {
      const moved = await who.socket.take("onmatchdata", (d) => d.op_code === 2);
      assert.equal(text(moved.data), "north");
      assert.equal(moved.presence.user_id, alice.session.user_id);
    }
    await assert.rejects(
      (await player()).socket.joinMatch(matchId, undefined, { role: "spectator" }),
      (err) => err.code === 5 && err.message === "Spectators are not allowed",
    );

    let listed;
    for (let i = 0; i < 30; i++) {
      listed = await client.listMatches(alice.session, 10, true, undefined, 2, 8, `+label.mode:${mode}`);
      if ((listed.matches ?? []).length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(listed.matches[0].match_id, matchId);
    assert.equal(listed.matches[0].size, 2);
    assert.equal(listed.matches[0].handler_name, "arena");
    // The label's `usernames` array is searched by element: the arena Bob plays in (on a
    // cluster the label reaches the other node's index within about a second).
    let bobs;
    for (let i = 0; i < 30; i++) {
      bobs = await client.listMatches(alice.session, 10, true, "", 0, 8, `+label.mode:${mode} +label.usernames:${bob.session.username}`);
      if ((bobs.matches ?? []).length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual((bobs.matches ?? []).map((m) => m.match_id), [matchId]);
    const nobody = await client.listMatches(alice.session, 10, true, "", 0, 8, `+label.mode:${mode} +label.usernames:nobody${rnd()}`);
    assert.deepEqual(nobody.matches ?? [], []);

    await alice.socket.leaveMatch(matchId);
    await bob.socket.take("onmatchpresence", (e) => e.leaves?.some((p) => p.user_id === alice.session.user_id));
  });
});
