// What the nakama-js socket tests share: the client for the live server named by the environment
// (set by tests/api/test_nakama_js.py) and users with a connected socket whose callbacks are collected.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { Client } from "@heroiclabs/nakama-js";

const HOST = process.env.OVERWORLD_URL_HOST;
const PORT = process.env.OVERWORLD_URL_PORT;
const SERVER_KEY = process.env.OVERWORLD_SERVER_KEY;
if (!HOST || !PORT || !SERVER_KEY) {
  throw new Error("set OVERWORLD_URL_HOST, OVERWORLD_URL_PORT and OVERWORLD_SERVER_KEY");
}

export const client = new Client(SERVER_KEY, HOST, PORT, false, 10_000, false);
export const rnd = () => randomUUID().replaceAll("-", "").slice(0, 12);
const sockets = [];

/** Disconnect every socket `connected` opened (for `after`). */
export const disconnectAll = () => sockets.forEach((s) => s.disconnect(false));

/**
 * A new user with a connected socket; `events[kind]` collects what the callback `kind` receives.
 * With `adapter` (e.g. @heroiclabs/nakama-js-protobuf's WebSocketAdapterPb) the socket uses it.
 * `socket.next(kind, predicate, timeoutMs)` waits for a value matching `predicate` and leaves it
 * there; `socket.take(...)` also removes it, so that the next call waits for a later one.
 */
export async function connected(
  kinds, { createStatus = false, prefix = "u", timeoutMs = 5_000, adapter = undefined } = {},
) {
  const session = await client.authenticateDevice(`device-${rnd()}`, true, `${prefix}${rnd()}`);
  // `adapter`: the socket's format (nakama-js's default is its JSON text adapter).
  const socket = adapter ? client.createSocket(false, false, adapter) : client.createSocket(false, false);
  const events = {};
  const waiters = {};
  for (const kind of kinds) {
    events[kind] = [];
    socket[kind] = (value) => {
      events[kind].push(value);
      (waiters[kind] ?? []).splice(0).forEach((resolve) => resolve());
    };
  }
  const wait = async (kind, predicate, wait_ms, remove) => {
    const deadline = Date.now() + wait_ms;
    for (;;) {
      const index = events[kind].findIndex(predicate);
      if (index >= 0) return remove ? events[kind].splice(index, 1)[0] : events[kind][index];
      const left = deadline - Date.now();
      assert.ok(left > 0, `no ${kind} matching the test arrived`);
      await new Promise((resolve) => {
        (waiters[kind] ??= []).push(resolve);
        setTimeout(resolve, left);
      });
    }
  };
  socket.next = (kind, predicate = () => true, wait_ms = timeoutMs) => wait(kind, predicate, wait_ms, false);
  socket.take = (kind, predicate = () => true, wait_ms = timeoutMs) => wait(kind, predicate, wait_ms, true);
  await socket.connect(session, createStatus);
  sockets.push(socket);
  return { session, socket, events };
}

/**
 * A REST call nakama-js 2.8.0 has no method for (ListParties, GetMatchmakerStats): `GET path`
 * with the session's bearer token, as its own calls send it; the decoded JSON body.
 */
export async function restGet(session, path, params = {}) {
  const query = new URLSearchParams(params).toString();
  const url = `http://${HOST}:${PORT}${path}${query ? `?${query}` : ""}`;
  const reply = await fetch(url, { headers: { Authorization: `Bearer ${session.token}` } });
  const body = await reply.json();
  assert.equal(reply.status, 200, JSON.stringify(body));
  return body;
}
