/**
 * The Redis test setup itself: a real server is reachable at `REDIS_URL`,
 * both clients the shared tier supports talk to it under Deno's op and
 * resource sanitizers, and a server of a test's own can go down and come back
 * on the same port. The shared-tier tests rely on all of it.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { createClient } from "redis";
// The named export: under Deno's npm interop the default export's types do
// not resolve to the class, though the value is the same.
import { Redis } from "ioredis";
import {
  redisCommand,
  redisUrl,
  restartServer,
  startRedis,
  stopServer,
} from "../tools/redis.ts";

/** Keys and channels of their own, as other tests share the server. */
function unique(name: string): string {
  return `redis_setup_test:${name}:${crypto.randomUUID()}`;
}

/** Fails instead of hanging the run when a reply never comes. */
async function within<T>(ms: number, what: string, work: Promise<T>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * ioredis' quit() resolves on the QUIT reply, before its socket has closed;
 * waiting for "end" keeps that close inside the test. disconnect() is no
 * shortcut: it starts a timer (`disconnectTimeout`, 2 s) that only the socket's
 * close clears, so it needs the same wait, and after a quit() it is not
 * needed at all.
 */
async function endIoredis(client: Redis, how: "quit" | "disconnect") {
  if (client.status === "end") return;
  const ended = once(client, "end");
  if (how === "quit") assert.equal(await client.quit(), "OK");
  else client.disconnect();
  await within(2_000, `ioredis ${how}`, ended);
}

Deno.test("REDIS_URL names a server that answers", async () => {
  const url = redisUrl();
  assert.equal(await redisCommand(url, "PING"), "PONG");
});

Deno.test("without REDIS_URL the tests say how to run them", () => {
  const saved = Deno.env.get("REDIS_URL");
  Deno.env.delete("REDIS_URL");
  try {
    assert.throws(
      redisUrl,
      /REDIS_URL is not set.*deno task test.*deno task redis/s,
    );
  } finally {
    if (saved !== undefined) Deno.env.set("REDIS_URL", saved);
  }
});

Deno.test("redisCommand speaks RESP without a client library", async () => {
  const url = redisUrl();
  const key = unique("raw");
  assert.equal(await redisCommand(url, "SET", key, "héllo wörld"), "OK");
  assert.equal(await redisCommand(url, "GET", key), "héllo wörld");
  assert.equal(await redisCommand(url, "INCR", `${key}:n`), 1);
  assert.equal(await redisCommand(url, "GET", `${key}:missing`), null);
  assert.deepEqual(await redisCommand(url, "MGET", key, `${key}:missing`), [
    "héllo wörld",
    null,
  ]);
  await assert.rejects(redisCommand(url, "INCR", key), /not an integer/);
  assert.equal(await redisCommand(url, "DEL", key, `${key}:n`), 2);
});

Deno.test("node-redis: commands, a duplicate that subscribes, a clean close", async () => {
  const client = createClient({ url: redisUrl() });
  // An 'error' event with no listener is thrown by the emitter; every client
  // in tests listens, as the adapter will.
  client.on("error", () => {});
  const subscriber = client.duplicate();
  subscriber.on("error", () => {});
  try {
    await client.connect();
    const key = unique("node-redis");
    await client.set(key, "value", {
      expiration: { type: "PX", value: 10_000 },
    });
    assert.equal(await client.get(key), "value");
    assert.ok(await client.pTTL(key) > 0);

    await subscriber.connect();
    const channel = unique("node-redis-channel");
    const message = Promise.withResolvers<string>();
    await subscriber.subscribe(channel, (text) => message.resolve(text));
    assert.equal(await client.publish(channel, "hello"), 1);
    assert.equal(await within(2_000, "message", message.promise), "hello");

    await subscriber.unsubscribe(channel);
    await client.del(key);
    // close() (quit() before v5) waits for the replies still due and leaves
    // no socket, timer or op behind, so the sanitizers stay on.
    await subscriber.close();
    await client.close();
    assert.equal(client.isOpen, false);
    assert.equal(subscriber.isOpen, false);
  } finally {
    // Only reached open when an assertion failed; destroy() drops at once.
    if (subscriber.isOpen) subscriber.destroy();
    if (client.isOpen) client.destroy();
  }
});

Deno.test("ioredis: commands, a duplicate that subscribes, a clean quit", async () => {
  const client = new Redis(redisUrl());
  client.on("error", () => {});
  const subscriber = client.duplicate();
  subscriber.on("error", () => {});
  try {
    const key = unique("ioredis");
    assert.equal(await client.set(key, "value", "PX", 10_000), "OK");
    assert.equal(await client.get(key), "value");
    assert.ok(await client.pttl(key) > 0);

    const channel = unique("ioredis-channel");
    const message = Promise.withResolvers<string>();
    subscriber.on("message", (from: string, text: string) => {
      if (from === channel) message.resolve(text);
    });
    await subscriber.subscribe(channel);
    assert.equal(await client.publish(channel, "hello"), 1);
    assert.equal(await within(2_000, "message", message.promise), "hello");

    await client.del(key);
    await endIoredis(subscriber, "quit");
    await endIoredis(client, "quit");
  } finally {
    // Only needed when an assertion failed before the quits.
    await endIoredis(subscriber, "disconnect");
    await endIoredis(client, "disconnect");
  }
});

Deno.test("a server of the test's own keeps nothing and can pause", async () => {
  const server = await startRedis();
  try {
    assert.match(server.url, /^redis:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await redisCommand(server.url, "CONFIG", "GET", "save"), [
      "save",
      "",
    ]);
    assert.deepEqual(
      await redisCommand(server.url, "CONFIG", "GET", "appendonly"),
      ["appendonly", "no"],
    );
    await server.pause(300);
    const started = performance.now();
    assert.equal(await redisCommand(server.url, "PING"), "PONG");
    assert.ok(performance.now() - started >= 200, "PING waited for the pause");
  } finally {
    await server.stop();
  }
  assert.equal(server.running, false);
  await assert.rejects(redisCommand(server.url, "PING"));
});

Deno.test("both clients come back after the server stops and restarts", async () => {
  const server = await startRedis();
  const nodeRedis = createClient({ url: server.url });
  const ioredis = new Redis(server.url);
  nodeRedis.on("error", () => {});
  ioredis.on("error", () => {});
  const reconnects = { nodeRedis: 0, ioredis: 0 };
  nodeRedis.on("reconnecting", () => reconnects.nodeRedis++);
  ioredis.on("reconnecting", () => reconnects.ioredis++);
  try {
    await nodeRedis.connect();
    await nodeRedis.set("before", "1");
    assert.equal(await ioredis.get("before"), "1");

    await stopServer(server);
    assert.equal(server.running, false);
    await assert.rejects(redisCommand(server.url, "PING"));
    // Both clients queue commands while disconnected rather than failing
    // them: these settle only once the server is back.
    const queued = [nodeRedis.get("before"), ioredis.get("before")];

    await restartServer(server);
    assert.equal(server.running, true);
    // Nothing was persisted, so the restarted server starts empty.
    assert.deepEqual(await within(5_000, "queued reads", Promise.all(queued)), [
      null,
      null,
    ]);
    await nodeRedis.set("after", "2");
    assert.equal(await ioredis.get("after"), "2");
    assert.ok(reconnects.nodeRedis > 0, "node-redis reconnected");
    assert.ok(reconnects.ioredis > 0, "ioredis reconnected");

    await nodeRedis.close();
    await endIoredis(ioredis, "quit");
  } finally {
    if (nodeRedis.isOpen) nodeRedis.destroy();
    await endIoredis(ioredis, "disconnect");
    await server.stop();
  }
});
