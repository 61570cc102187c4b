// Real-client tests of in-app purchases (Nakama's /v2/iap, docs/economy.md): nakama-js's
// validatePurchase* / validateSubscription* / getSubscription / listSubscriptions against a server
// whose title's stores point at local fakes. Run by tests/purchases/test_nakama_js_purchases.py,
// which makes the receipts (signed with the test's own certificate chain and keys) and passes them
// in OVERWORLD_IAP_FIXTURES.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Client } from "@heroiclabs/nakama-js";

const HOST = process.env.OVERWORLD_URL_HOST;
const PORT = process.env.OVERWORLD_URL_PORT;
const client = new Client(process.env.OVERWORLD_SERVER_KEY, HOST, PORT, false, 10_000, false);
const F = JSON.parse(process.env.OVERWORLD_IAP_FIXTURES);
const player = (name) => client.authenticateDevice(`device-${name}-${Date.now()}-${Math.random()}`, true);

async function refused(promise, status, code) {
  try {
    await promise;
  } catch (error) {
    assert.equal(error.status, status);
    const body = await error.json();
    assert.equal(body.code, code);
    return body.message;
  }
  assert.fail("expected an error");
}

describe("in-app purchases with nakama-js", () => {
  test("an App Store signed transaction is validated once, then seen before", async () => {
    const session = await player("apple");
    const first = await client.validatePurchaseApple(session, F.apple);
    assert.equal(first.validated_purchases.length, 1);
    const p = first.validated_purchases[0];
    assert.equal(p.user_id, session.user_id);
    assert.equal(p.product_id, "gems_100");
    assert.equal(p.store, undefined); // APPLE_APP_STORE (0) is left out
    assert.equal(p.environment, 2); // PRODUCTION
    assert.equal(p.seen_before, undefined);
    assert.equal(p.refund_time, "1970-01-01T00:00:00Z");
    const again = await client.validatePurchaseApple(session, F.apple);
    assert.equal(again.validated_purchases[0].seen_before, true);
    const other = await player("thief");
    const message = await refused(client.validatePurchaseApple(other, F.apple), 400, 9);
    assert.equal(message, "This purchase was validated by another user.");
    const bad = await refused(client.validatePurchaseApple(session, "not a receipt"), 400, 3);
    assert.match(bad, /^receipt: /);
  });

  test("persist false records nothing", async () => {
    const session = await player("persist");
    const dry = await client.validatePurchaseApple(session, F.apple_unpersisted, false);
    assert.equal(dry.validated_purchases[0].create_time, undefined);
    const real = await client.validatePurchaseApple(session, F.apple_unpersisted);
    assert.equal(real.validated_purchases[0].seen_before, undefined);
  });

  test("Google Play, Huawei and Facebook Instant purchases", async () => {
    const session = await player("stores");
    const google = await client.validatePurchaseGoogle(session, F.google);
    assert.equal(google.validated_purchases[0].store, 1);
    const huawei = await client.validatePurchaseHuawei(session, F.huawei_purchase, F.huawei_signature);
    assert.equal(huawei.validated_purchases[0].store, 2);
    const facebook = await client.validatePurchaseFacebookInstant(session, F.facebook);
    assert.equal(facebook.validated_purchases[0].store, 3);
    assert.equal(facebook.validated_purchases[0].product_id, "coins_10");
  });

  test("subscriptions: validate, get, list", async () => {
    const session = await player("subscriber");
    const apple = await client.validateSubscriptionApple(session, F.apple_subscription);
    assert.equal(apple.validated_subscription.active, true);
    assert.equal(apple.validated_subscription.product_id, "vip_monthly");
    const google = await client.validateSubscriptionGoogle(session, F.google_subscription);
    assert.equal(google.validated_subscription.store, 1);
    assert.equal(google.validated_subscription.active, true);
    const got = await client.getSubscription(session, "vip_monthly");
    assert.equal(got.original_transaction_id, apple.validated_subscription.original_transaction_id);
    const listed = await client.listSubscriptions(session, undefined, 10);
    assert.deepEqual(listed.validated_subscriptions.map((s) => s.product_id).sort(), ["vip_monthly", "vip_yearly"]);
    await refused(client.getSubscription(session, "nothing"), 404, 5);
  });
});
