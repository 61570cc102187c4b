// What a game in a web page does with @heroiclabs/nakama-js: run in headless Chromium by
// tests/api/test_browser.py, from a page served on another origin than the server's.
// `run` returns what it saw; the test asserts on it.

import { Client, WebSocketAdapterText } from "./nakama-js.esm.mjs";

const rnd = () => Math.random().toString(36).slice(2, 12);

/** The socket adapter of a format: "json" (text frames) or "protobuf" (binary frames, through
 * @heroiclabs/nakama-js-protobuf's WebSocketAdapterPb, served beside this file). */
async function adapter(format) {
  if (format === "json") return new WebSocketAdapterText();
  const { WebSocketAdapterPb } = await import("./nakama-js-protobuf.esm.mjs");
  return new WebSocketAdapterPb();
}

/** A promise of the next event a socket callback receives that passes `accept`. */
function next(socket, callback, accept = () => true, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${callback} in ${ms} ms`)), ms);
    socket[callback] = (event) => {
      if (accept(event)) {
        clearTimeout(timer);
        resolve(event);
      }
    };
  });
}

export async function run({ host, port, serverKey, format }) {
  const seen = { origin: location.origin };
  const client = new Client(serverKey, host, String(port), false, 10000);
  const alice = await client.authenticateDevice(`browser-${rnd()}`, true, `alice${rnd()}`);
  const bob = await client.authenticateDevice(`browser-${rnd()}`, true, `bob${rnd()}`);
  seen.created = alice.created;

  // REST: account, update (a PUT with a JSON body), storage, RPC, an error answer.
  await client.updateAccount(alice, { display_name: "Alice in a browser" });
  const account = await client.getAccount(alice);
  seen.account = { id: account.user.id, display_name: account.user.display_name };
  const acks = await client.writeStorageObjects(alice, [
    { collection: "saves", key: "slot1", value: { level: 3 }, permission_read: 2, permission_write: 1 },
  ]);
  seen.storageVersion = acks.acks[0].version;
  const read = await client.readStorageObjects(bob, {
    object_ids: [{ collection: "saves", key: "slot1", user_id: alice.user_id }],
  });
  seen.storageRead = read.objects.map((o) => o.value);
  const rpc = await client.rpc(alice, "echo", { hello: "browser" });
  seen.rpc = rpc.payload;
  try {
    await client.rpc(alice, "no_such_rpc", {});
    seen.rpcError = "none";
  } catch (response) {
    seen.rpcError = response.status; // the error response could be read: CORS headers on errors too
  }

  // The socket: two clients, chat and match data.
  const sa = client.createSocket(false, false, await adapter(format));
  const sb = client.createSocket(false, false, await adapter(format));
  await sa.connect(alice, true);
  await sb.connect(bob, true);
  const room = `room-${rnd()}`;
  const channel = await sa.joinChat(room, 1, true, false);
  await sb.joinChat(room, 1, true, false);
  const chat = next(sa, "onchannelmessage", (m) => m.sender_id === bob.user_id);
  await sb.writeChatMessage(channel.id, { text: "hello from bob" });
  seen.chat = (await chat).content;

  const match = await sa.createMatch();
  const joined = next(sa, "onmatchpresence", (e) => (e.joins || []).some((p) => p.user_id === bob.user_id));
  await sb.joinMatch(match.match_id);
  await joined;
  const data = next(sa, "onmatchdata");
  await sb.sendMatchState(match.match_id, 7, JSON.stringify({ move: "e4" }));
  const received = await data;
  seen.matchData = { op_code: Number(received.op_code), data: new TextDecoder().decode(received.data) };
  const back = next(sb, "onmatchdata");
  await sa.sendMatchState(match.match_id, 8, JSON.stringify({ move: "e5" }));
  seen.matchReply = new TextDecoder().decode((await back).data);

  sa.disconnect(false);
  sb.disconnect(false);
  return seen;
}
