// Real-client tests of live events and remote config (Overworld's REST extension under
// /v2/overworld, docs/live_events.md): nakama-js's socket receives the start and end
// notifications, and a raw fetch with the session token reads the effective config.
// Run by tests/api/test_nakama_js.py (see client.test.mjs for the environment it sets).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";

import { Client } from "@heroiclabs/nakama-js";

const HOST = process.env.OVERWORLD_URL_HOST;
const PORT = process.env.OVERWORLD_URL_PORT;
const SERVER_KEY = process.env.OVERWORLD_SERVER_KEY;
const HTTP_KEY = process.env.OVERWORLD_HTTP_KEY;
const BASE = `http://${HOST}:${PORT}`;
const client = new Client(SERVER_KEY, HOST, PORT, false, 10_000, false);
const rnd = () => randomUUID().replaceAll("-", "").slice(0, 12);
const sockets = [];

after(() => sockets.forEach((s) => s.disconnect(false)));

async function admin(method, path, body) {
  const response = await fetch(`${BASE}/v2/overworld/admin${path}?http_key=${HTTP_KEY}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function effectiveConfig(session) {
  const response = await fetch(`${BASE}/v2/overworld/config`, {
    headers: { Authorization: `Bearer ${session.token}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

describe("live events", () => {
  test("a player is told on the socket when an event for them starts and ends", async () => {
    const session = await client.authenticateDevice(`device-${rnd()}`, true, `u${rnd()}`);
    const key = `js_${rnd()}`;
    assert.equal((await admin("PUT", `/config/${key}`, { value: "base" })).status, 200);

    const notifications = [];
    const socket = client.createSocket(false, false);
    socket.onnotification = (n) => notifications.push(n);
    await socket.connect(session, false);
    sockets.push(socket);

    const start = Math.floor(Date.now() / 1000) + 2;
    const created = await admin("POST", "/events", {
      name: "JS sale", start_time: start, end_time: start + 2,
      audience: { user_ids: [session.user_id] }, config: { [key]: "event" },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const bad = await admin("POST", "/events", { name: "Bad", start_time: start, end_time: start });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /end_time must be later than start_time/);

    const wait = async (code) => {
      const deadline = Date.now() + 8_000;
      for (;;) {
        const found = notifications.find((n) => n.code === code);
        if (found) return found;
        assert.ok(Date.now() < deadline, `no notification with code ${code}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const started = await wait(-100);
    assert.equal(started.content.event_id, created.body.id);
    assert.deepEqual(started.content.config, { [key]: "event" });
    assert.equal((await effectiveConfig(session)).config[key], "event");
    await wait(-101);
    assert.equal((await effectiveConfig(session)).config[key], "base");
    assert.equal(notifications.length, 2);
    await admin("DELETE", `/events/${created.body.id}`);
    await admin("DELETE", `/config/${key}`);
  });
});
