// Real-client tests: @heroiclabs/nakama-js against a live `overworld serve`.
//
// Run by tests/api/test_nakama_js.py, which starts the server (with the server code of
// examples/runtime) and sets:
//   OVERWORLD_URL_HOST, OVERWORLD_URL_PORT, OVERWORLD_SERVER_KEY, OVERWORLD_HTTP_KEY
// By hand:  cd tests/node && npm ci && OVERWORLD_URL_HOST=127.0.0.1 OVERWORLD_URL_PORT=7350 \
//           OVERWORLD_SERVER_KEY=defaultkey OVERWORLD_HTTP_KEY=defaulthttpkey \
//           node --test --test-force-exit client.test.mjs
//
// Expected statuses and error codes are those of a real Nakama server (grpc-gateway mapping:
// InvalidArgument 3 -> 400, NotFound 5 -> 404, AlreadyExists 6 -> 409, PermissionDenied 7 -> 403,
// Unauthenticated 16 -> 401). nakama-js throws the fetch Response on any non-2xx status.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";

import { Client, Session } from "@heroiclabs/nakama-js";

const HOST = process.env.OVERWORLD_URL_HOST;
const PORT = process.env.OVERWORLD_URL_PORT;
const SERVER_KEY = process.env.OVERWORLD_SERVER_KEY;
const HTTP_KEY = process.env.OVERWORLD_HTTP_KEY;
if (!HOST || !PORT || !SERVER_KEY || !HTTP_KEY) {
  throw new Error("set OVERWORLD_URL_HOST, OVERWORLD_URL_PORT, OVERWORLD_SERVER_KEY and OVERWORLD_HTTP_KEY");
}

const TIMEOUT_MS = 10_000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A client that never refreshes sessions behind the test's back. */
function newClient(serverKey = SERVER_KEY) {
  return new Client(serverKey, HOST, PORT, false, TIMEOUT_MS, false);
}

const client = newClient();

const rnd = () => randomUUID().replaceAll("-", "").slice(0, 16);
const deviceId = () => `device-${rnd()}`;
const customId = () => `custom-${rnd()}`;
const email = () => `user-${rnd()}@example.com`;
const username = () => `u${rnd()}`;
const collection = () => `col${rnd()}`;

/** A fresh account authenticated by a new device id. */
async function newUser(extra = {}) {
  const id = deviceId();
  const name = extra.username ?? username();
  const session = await client.authenticateDevice(id, true, name, extra.vars);
  return { session, deviceId: id, username: name };
}

/**
 * Await `promise`, expect it to reject with a fetch Response of HTTP `status` whose JSON body
 * carries gRPC `code`. Returns the parsed body.
 */
async function expectError(promise, status, code, what = "request") {
  let error;
  try {
    const value = await promise;
    assert.fail(`${what}: expected HTTP ${status} (code ${code}), but it succeeded with ${JSON.stringify(value)}`);
  } catch (caught) {
    if (caught instanceof assert.AssertionError) throw caught;
    error = caught;
  }
  assert.ok(
    error && typeof error.status === "number" && typeof error.text === "function",
    `${what}: expected the client to throw a fetch Response, got ${error}`,
  );
  const text = await error.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what}: HTTP ${error.status} with a non-JSON body: ${text}`);
  }
  assert.equal(error.status, status, `${what}: HTTP status (body ${text})`);
  assert.equal(body.code, code, `${what}: error code (body ${text})`);
  assert.equal(typeof body.message, "string", `${what}: error message (body ${text})`);
  assert.ok(body.message.length > 0, `${what}: empty error message (body ${text})`);
  return body;
}

describe("authentication", () => {
  test("authenticateDevice creates an account and the session decodes the token", async () => {
    const id = deviceId();
    const name = username();
    const vars = { platform: "node", build: "42" };
    const before = Math.floor(Date.now() / 1000);

    const session = await client.authenticateDevice(id, true, name, vars);
    assert.ok(session instanceof Session);
    assert.equal(session.created, true);
    assert.equal(session.token.split(".").length, 3);
    assert.equal(session.refresh_token.split(".").length, 3);
    assert.match(session.user_id, UUID_RE);
    assert.equal(session.username, name);
    assert.deepEqual(session.vars, vars);
    assert.ok(session.expires_at > before, "token expiry in the future");
    assert.ok(session.refresh_expires_at >= session.expires_at, "refresh token outlives the token");
    assert.equal(session.isexpired(Date.now() / 1000), false);

    // The same device again: same account, not created.
    const again = await client.authenticateDevice(id, true);
    assert.equal(again.created, false);
    assert.equal(again.user_id, session.user_id);
    assert.equal(again.username, name);

    const existing = await client.authenticateDevice(id, false);
    assert.equal(existing.created, false);
    assert.equal(existing.user_id, session.user_id);
  });

  test("authenticateDevice without a username generates one", async () => {
    const session = await client.authenticateDevice(deviceId(), true);
    assert.equal(session.created, true);
    assert.equal(typeof session.username, "string");
    assert.ok(session.username.length > 0);
    const account = await client.getAccount(session);
    assert.equal(account.user.username, session.username);
  });

  test("authenticateEmail creates, then logs in, and rejects a wrong password", async () => {
    const address = email();
    const password = `pw-${rnd()}`;
    const name = username();

    const created = await client.authenticateEmail(address, password, true, name);
    assert.equal(created.created, true);
    assert.equal(created.username, name);
    assert.match(created.user_id, UUID_RE);

    const login = await client.authenticateEmail(address, password, false);
    assert.equal(login.created, false);
    assert.equal(login.user_id, created.user_id);
    assert.equal(login.username, name);

    await expectError(client.authenticateEmail(address, "wrong-password", false), 401, 16, "wrong password");

    const account = await client.getAccount(login);
    assert.equal(account.email, address);
  });

  test("authenticateCustom creates, then finds the same account", async () => {
    const id = customId();
    const name = username();
    const created = await client.authenticateCustom(id, true, name, { tier: "gold" });
    assert.equal(created.created, true);
    assert.equal(created.username, name);
    assert.deepEqual(created.vars, { tier: "gold" });

    const again = await client.authenticateCustom(id, true);
    assert.equal(again.created, false);
    assert.equal(again.user_id, created.user_id);

    const account = await client.getAccount(again);
    assert.equal(account.custom_id, id);
    assert.equal(account.user.id, created.user_id);
  });

  test("create=false for an unknown account is 404 with code 5", async () => {
    await expectError(client.authenticateDevice(deviceId(), false), 404, 5, "unknown device");
    await expectError(client.authenticateCustom(customId(), false), 404, 5, "unknown custom id");
    await expectError(client.authenticateEmail(email(), "password-123", false), 404, 5, "unknown email");
  });

  test("a wrong server key is 401 with code 16", async () => {
    const bad = newClient(`wrong-${rnd()}`);
    await expectError(bad.authenticateDevice(deviceId(), true), 401, 16, "wrong server key");
  });
});

describe("account", () => {
  test("getAccount returns the user, username and devices", async () => {
    const { session, deviceId: id, username: name } = await newUser();
    const account = await client.getAccount(session);
    assert.equal(account.user.id, session.user_id);
    assert.equal(account.user.username, name);
    assert.equal(typeof account.user.create_time, "string");
    assert.ok(!Number.isNaN(Date.parse(account.user.create_time)), "create_time is a timestamp");
    assert.deepEqual(
      (account.devices ?? []).map((d) => d.id),
      [id],
    );
    assert.equal(typeof account.wallet, "string", "wallet is a JSON string");
    assert.equal(typeof JSON.parse(account.wallet), "object");
  });

  test("updateAccount is reflected by getAccount and getUsers", async () => {
    const { session } = await newUser();
    const update = {
      display_name: `Display ${rnd()}`,
      lang_tag: "fr",
      location: "Lyon",
      timezone: "Europe/Paris",
      avatar_url: `https://example.com/${rnd()}.png`,
    };
    assert.equal(await client.updateAccount(session, update), true);

    const { user } = await client.getAccount(session);
    for (const [field, value] of Object.entries(update)) {
      assert.equal(user[field], value, field);
    }

    const { users } = await client.getUsers(session, [session.user_id]);
    assert.equal(users.length, 1);
    assert.equal(users[0].display_name, update.display_name);
    assert.equal(users[0].avatar_url, update.avatar_url);
    assert.equal(users[0].lang_tag, update.lang_tag);
  });

  test("updateAccount can change the username", async () => {
    const { session } = await newUser();
    const name = username();
    assert.equal(await client.updateAccount(session, { username: name }), true);
    const { user } = await client.getAccount(session);
    assert.equal(user.username, name);
  });

  test("linkDevice, linkCustom, linkEmail and unlinkDevice", async () => {
    const { session, deviceId: first } = await newUser();
    const second = deviceId();
    const custom = customId();
    const address = email();
    const password = `pw-${rnd()}`;

    assert.equal(await client.linkDevice(session, { id: second }), true);
    assert.equal(await client.linkCustom(session, { id: custom }), true);
    assert.equal(await client.linkEmail(session, { email: address, password }), true);

    const account = await client.getAccount(session);
    assert.deepEqual((account.devices ?? []).map((d) => d.id).sort(), [first, second].sort());
    assert.equal(account.custom_id, custom);
    assert.equal(account.email, address);

    // Every linked identifier now logs into the same account.
    for (const login of [
      client.authenticateDevice(second, false),
      client.authenticateCustom(custom, false),
      client.authenticateEmail(address, password, false),
    ]) {
      const other = await login;
      assert.equal(other.created, false);
      assert.equal(other.user_id, session.user_id);
    }

    assert.equal(await client.unlinkDevice(session, { id: second }), true);
    const after = await client.getAccount(session);
    assert.deepEqual((after.devices ?? []).map((d) => d.id), [first]);
    await expectError(client.authenticateDevice(second, false), 404, 5, "unlinked device");
  });

  test("linking a device that belongs to another account is 409 with code 6", async () => {
    const a = await newUser();
    const b = await newUser();
    await expectError(client.linkDevice(a.session, { id: b.deviceId }), 409, 6, "link taken device");
  });

  test("unlinking the last identifier is 403 with code 7", async () => {
    const { session, deviceId: id } = await newUser();
    await expectError(client.unlinkDevice(session, { id }), 403, 7, "unlink last identifier");
    const account = await client.getAccount(session);
    assert.deepEqual((account.devices ?? []).map((d) => d.id), [id]);
    const again = await client.authenticateDevice(id, false);
    assert.equal(again.user_id, session.user_id);
  });

  test("getUsers by ids and by usernames", async () => {
    const a = await newUser();
    const b = await newUser();
    const c = await newUser();

    const byId = await client.getUsers(a.session, [b.session.user_id]);
    assert.deepEqual(
      byId.users.map((u) => [u.id, u.username]),
      [[b.session.user_id, b.username]],
    );

    const byName = await client.getUsers(a.session, undefined, [c.username]);
    assert.deepEqual(
      byName.users.map((u) => [u.id, u.username]),
      [[c.session.user_id, c.username]],
    );

    const both = await client.getUsers(a.session, [b.session.user_id], [c.username, a.username]);
    assert.deepEqual(
      both.users.map((u) => u.id).sort(),
      [a.session.user_id, b.session.user_id, c.session.user_id].sort(),
    );
    for (const user of both.users) assert.equal(typeof user.create_time, "string");

    const none = await client.getUsers(a.session, [randomUUID()], [username()]);
    assert.deepEqual(none.users, []);
  });
});

describe("storage", () => {
  test("write, read, update, list and delete", async () => {
    const { session } = await newUser();
    const col = collection();
    const acks = await client.writeStorageObjects(session, [
      { collection: col, key: "alpha", value: { hp: 10, tags: ["a"] }, permission_read: 1, permission_write: 1 },
      { collection: col, key: "beta", value: { hp: 20 }, permission_read: 2, permission_write: 1 },
    ]);
    assert.equal(acks.acks.length, 2);
    for (const [i, key] of ["alpha", "beta"].entries()) {
      assert.equal(acks.acks[i].collection, col);
      assert.equal(acks.acks[i].key, key);
      assert.equal(acks.acks[i].user_id, session.user_id);
      assert.equal(typeof acks.acks[i].version, "string");
      assert.ok(acks.acks[i].version.length > 0);
    }

    const read = await client.readStorageObjects(session, {
      object_ids: [
        { collection: col, key: "alpha", user_id: session.user_id },
        { collection: col, key: "beta", user_id: session.user_id },
        { collection: col, key: "missing", user_id: session.user_id },
      ],
    });
    const byKey = Object.fromEntries(read.objects.map((o) => [o.key, o]));
    assert.deepEqual(Object.keys(byKey).sort(), ["alpha", "beta"]);
    assert.deepEqual(byKey.alpha.value, { hp: 10, tags: ["a"] });
    assert.equal(byKey.alpha.permission_read, 1);
    assert.equal(byKey.alpha.permission_write, 1);
    assert.equal(byKey.alpha.version, acks.acks[0].version);
    assert.equal(byKey.alpha.user_id, session.user_id);
    assert.equal(byKey.alpha.collection, col);
    assert.equal(typeof byKey.alpha.create_time, "string");
    assert.equal(typeof byKey.alpha.update_time, "string");
    assert.deepEqual(byKey.beta.value, { hp: 20 });
    assert.equal(byKey.beta.permission_read, 2);

    // Update with the current version.
    const updated = await client.writeStorageObjects(session, [
      { collection: col, key: "alpha", value: { hp: 11 }, version: acks.acks[0].version },
    ]);
    assert.equal(updated.acks.length, 1);
    assert.notEqual(updated.acks[0].version, acks.acks[0].version);
    const reread = await client.readStorageObjects(session, {
      object_ids: [{ collection: col, key: "alpha", user_id: session.user_id }],
    });
    assert.deepEqual(reread.objects[0].value, { hp: 11 });
    assert.equal(reread.objects[0].version, updated.acks[0].version);

    const listed = await client.listStorageObjects(session, col, session.user_id, 10);
    assert.deepEqual(listed.objects.map((o) => o.key).sort(), ["alpha", "beta"]);
    assert.ok(!listed.cursor, "no cursor when everything fits in one page");

    assert.equal(
      await client.deleteStorageObjects(session, { object_ids: [{ collection: col, key: "alpha" }] }),
      true,
    );
    const gone = await client.readStorageObjects(session, {
      object_ids: [
        { collection: col, key: "alpha", user_id: session.user_id },
        { collection: col, key: "beta", user_id: session.user_id },
      ],
    });
    assert.deepEqual(gone.objects.map((o) => o.key), ["beta"]);
  });

  test("listStorageObjects pages with limit and cursor", async () => {
    const { session } = await newUser();
    const col = collection();
    const keys = ["k0", "k1", "k2", "k3", "k4"];
    // Written out of order; the listing comes back ordered by key.
    await client.writeStorageObjects(
      session,
      [...keys].reverse().map((key) => ({ collection: col, key, value: { key }, permission_read: 1 })),
    );

    const seen = [];
    const pages = [];
    let cursor;
    for (let i = 0; i < 10; i++) {
      const page = await client.listStorageObjects(session, col, session.user_id, 2, cursor);
      assert.ok(page.objects.length <= 2, `page ${i} respects the limit`);
      pages.push(page.objects.length);
      for (const object of page.objects) {
        assert.equal(object.collection, col);
        assert.equal(object.user_id, session.user_id);
        assert.deepEqual(object.value, { key: object.key });
        seen.push(object.key);
      }
      cursor = page.cursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, keys);
    assert.deepEqual(pages, [2, 2, 1]);

    const firstOnly = await client.listStorageObjects(session, col, session.user_id, 1);
    assert.equal(firstOnly.objects.length, 1);
    assert.equal(firstOnly.objects[0].key, "k0");
    assert.ok(firstOnly.cursor, "a cursor when more objects remain");

    const all = await client.listStorageObjects(session, col, session.user_id, 100);
    assert.deepEqual(all.objects.map((o) => o.key), keys);
    assert.ok(!all.cursor);
  });

  test("conditional writes: a stale version and '*' on an existing object are 400 with code 3", async () => {
    const { session } = await newUser();
    const col = collection();
    const first = await client.writeStorageObjects(session, [
      { collection: col, key: "occ", value: { n: 1 }, version: "*" },
    ]);
    const v1 = first.acks[0].version;
    const second = await client.writeStorageObjects(session, [
      { collection: col, key: "occ", value: { n: 2 }, version: v1 },
    ]);
    const v2 = second.acks[0].version;
    assert.notEqual(v2, v1);

    await expectError(
      client.writeStorageObjects(session, [{ collection: col, key: "occ", value: { n: 3 }, version: v1 }]),
      400,
      3,
      "stale version",
    );
    await expectError(
      client.writeStorageObjects(session, [{ collection: col, key: "occ", value: { n: 4 }, version: "*" }]),
      400,
      3,
      "version * on an existing object",
    );

    const read = await client.readStorageObjects(session, {
      object_ids: [{ collection: col, key: "occ", user_id: session.user_id }],
    });
    assert.equal(read.objects.length, 1);
    assert.deepEqual(read.objects[0].value, { n: 2 });
    assert.equal(read.objects[0].version, v2);
  });

  test("public read (2) is visible to another user, owner read (1) is not", async () => {
    const owner = await newUser();
    const other = await newUser();
    const col = collection();
    await client.writeStorageObjects(owner.session, [
      { collection: col, key: "public", value: { v: "pub" }, permission_read: 2, permission_write: 1 },
      { collection: col, key: "private", value: { v: "priv" }, permission_read: 1, permission_write: 1 },
    ]);
    const ids = {
      object_ids: [
        { collection: col, key: "public", user_id: owner.session.user_id },
        { collection: col, key: "private", user_id: owner.session.user_id },
      ],
    };

    const asOther = await client.readStorageObjects(other.session, ids);
    assert.deepEqual(asOther.objects.map((o) => o.key), ["public"]);
    assert.deepEqual(asOther.objects[0].value, { v: "pub" });
    assert.equal(asOther.objects[0].user_id, owner.session.user_id);

    const asOwner = await client.readStorageObjects(owner.session, ids);
    assert.deepEqual(asOwner.objects.map((o) => o.key).sort(), ["private", "public"]);

    const listedByOther = await client.listStorageObjects(other.session, col, owner.session.user_id, 10);
    assert.deepEqual(listedByOther.objects.map((o) => o.key), ["public"]);
  });
});

describe("sessions", () => {
  test("sessionRefresh returns a new working session", async () => {
    const { session } = await newUser();
    const oldToken = session.token;
    const userId = session.user_id;

    const refreshed = await client.sessionRefresh(session);
    assert.ok(refreshed instanceof Session);
    assert.equal(refreshed.user_id, userId);
    assert.equal(refreshed.username, session.username);
    assert.notEqual(refreshed.token, oldToken, "a fresh token (new tid) even within the same second");
    assert.ok(refreshed.refresh_token);

    const account = await client.getAccount(refreshed);
    assert.equal(account.user.id, userId);
  });

  test("sessionLogout makes the token and the refresh token stop working", async () => {
    const { session } = await newUser();
    const token = session.token;
    const refreshToken = session.refresh_token;
    assert.equal((await client.getAccount(session)).user.id, session.user_id);

    assert.equal(await client.sessionLogout(session, token, refreshToken), true);

    await expectError(client.getAccount(Session.restore(token, refreshToken)), 401, 16, "token after logout");
    await expectError(
      client.sessionRefresh(Session.restore(token, refreshToken)),
      401,
      16,
      "refresh token after logout",
    );
  });

  test("deleteAccount makes the old session fail", async () => {
    const { session, deviceId: id } = await newUser();
    assert.equal(await client.deleteAccount(session), true);
    await expectError(client.getAccount(session), 401, 16, "session of a deleted account");
    await expectError(client.authenticateDevice(id, false), 404, 5, "device of a deleted account");
  });

  test("a garbage token is 401 with code 16", async () => {
    const { session } = await newUser();
    const [header, payload] = session.token.split(".");
    const forged = Session.restore(`${header}.${payload}.AAAA`, "");
    await expectError(client.getAccount(forged), 401, 16, "forged signature");
  });
});

describe("rpc (server code of examples/runtime)", () => {
  test("rpc with a session sends the input as JSON and parses the payload", async () => {
    const { session } = await newUser();
    const input = { item: "sword", count: 2, note: "é ✓" };
    const result = await client.rpc(session, "echo", input);
    assert.equal(result.id, "echo");
    assert.deepEqual(result.payload, input);
  });

  test("rpcHttpKey calls with the http key (GET with ?payload=)", async () => {
    const result = await client.rpcHttpKey(HTTP_KEY, "echo", { from: "server" });
    assert.deepEqual(result.payload, { from: "server" });
  });

  test("a title's own RPC answers, and refuses a second claim with code 9", async () => {
    const { session } = await newUser();
    const result = await client.rpc(session, "daily_reward", {});
    assert.deepEqual(result.payload, { coins: 50 });
    await expectError(client.rpc(session, "daily_reward", {}), 400, 9, "second claim");
  });

  test("an unknown RPC is 404 with code 5, a wrong http key 401 with code 16", async () => {
    const { session } = await newUser();
    await expectError(client.rpc(session, "no_such_rpc", {}), 404, 5, "unknown rpc");
    await expectError(client.rpcHttpKey("wrong-http-key", "echo", {}), 401, 16, "wrong http key");
  });

  test("a before hook of the server code rejects a banned device with 403 and code 7", async () => {
    await expectError(client.authenticateDevice(`banned-${rnd()}`, true), 403, 7, "banned device");
  });
});
