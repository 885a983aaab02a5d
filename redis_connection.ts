/**
 * How `redisStore` talks to Redis through the user's own client, whichever
 * it is: node-redis (v4 or later) or ioredis, told apart by shape, ioredis
 * first. One way to send a command, to run a script by its digest, and to
 * open a subscriber connection that says when it is lost and when it listens
 * again. This module imports neither client.
 *
 * @module
 */

// The part of a node-redis (v4 or later) client this module uses.
interface NodeRedisClient {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): NodeRedisClient;
  connect(): Promise<unknown>;
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  quit(): Promise<unknown>;
  // node-redis 5 and later close with close(); quit() is the older name.
  close?(): Promise<unknown>;
  // node-redis 5 and later end at once with destroy(); disconnect() is the
  // older name.
  destroy?(): void;
  disconnect(): Promise<unknown>;
  on(event: "error", listener: (error: unknown) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
}

// The part of an ioredis client this module uses.
interface IoRedisClient {
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  duplicate(): IoRedisClient;
  subscribe(channel: string): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  readonly status: string;
  on(
    event: "message",
    listener: (channel: string, message: string) => void,
  ): unknown;
  on(event: "error", listener: (error: unknown) => void): unknown;
  on(event: "close" | "ready", listener: () => void): unknown;
  once(event: "end", listener: () => void): unknown;
  defineCommand(...args: unknown[]): unknown;
}

/** What a subscriber connection tells the store that opened it, once it listens. */
export interface SubscriberEvents {
  /** A message on the channel. */
  message(text: string): void;
  /**
   * The connection failed: an error, or the connection lost (messages
   * published until it listens again never arrive).
   */
  failed(error: unknown): void;
  /**
   * After a loss, the connection listens again: the server has taken the
   * subscription back, so that every message published from now on arrives.
   */
  resumed(): void;
}

/** One way to send a command and to open a subscriber, whichever the client. */
export interface Connection {
  command(args: string[]): Promise<unknown>;
  subscriber(
    channel: string,
    events: SubscriberEvents,
  ): Promise<{ close(): Promise<void> }>;
}

/** The error a subscriber connection reports when the server closed it. */
export class SubscriberLostError extends Error {
  override name = "SubscriberLostError";
  constructor() {
    super(
      "redisStore lost its subscriber connection: what other processes invalidate until it listens again is heard as a gap",
    );
  }
}

function isIoRedis(client: unknown): client is IoRedisClient {
  const candidate = client as Partial<IoRedisClient> | null;
  return typeof candidate?.call === "function" &&
    typeof candidate.defineCommand === "function" &&
    typeof candidate.duplicate === "function";
}

function isNodeRedis(client: unknown): client is NodeRedisClient {
  const candidate = client as Partial<NodeRedisClient> | null;
  return typeof candidate?.sendCommand === "function" &&
    typeof candidate.duplicate === "function";
}

// Until a subscriber connection listens, its first error fails it: the
// client would otherwise go on reconnecting to a server that is away, and
// the subscription would never settle (node-redis) or settle only once the
// client gave up on its commands (ioredis). `end` stops the connection, at
// once. Once it listens, its errors go to `onError`.
function failedOnError(
  subscriber: {
    on(event: "error", listener: (error: unknown) => void): unknown;
  },
  onError: (error: unknown) => void,
  end: () => void,
): {
  failed: Promise<never>;
  listening(): void;
  readonly isListening: boolean;
} {
  let listening = false;
  let fail!: (error: unknown) => void;
  const failed = new Promise<never>((_, reject) => fail = reject);
  failed.catch(() => {});
  subscriber.on("error", (error) => {
    if (listening) return onError(error);
    fail(error);
    end();
  });
  return {
    failed,
    listening: () => listening = true,
    get isListening() {
      return listening;
    },
  };
}

/**
 * The connection through `client`.
 *
 * @throws {TypeError} If `client` is neither a node-redis nor an ioredis
 * client.
 */
export function connectionOf(client: unknown): Connection {
  // ioredis first: its clients have methods that look like node-redis's too.
  if (isIoRedis(client)) {
    return {
      command: ([name, ...args]) => client.call(name, ...args),
      async subscriber(channel, events) {
        const subscriber = client.duplicate();
        let closing = false;
        const close = async () => {
          closing = true;
          // quit() resolves before the socket is closed, and waits for a
          // server that is down; disconnect() stops the reconnecting.
          const ended = new Promise<void>((resolve) =>
            subscriber.once("end", resolve)
          );
          if (subscriber.status === "ready") {
            await subscriber.quit().catch(() => subscriber.disconnect());
            await ended;
            return;
          }
          // Between reconnection attempts there is no socket to close, and
          // no "end" follows; a connection being opened ends soon.
          subscriber.disconnect();
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            ended,
            new Promise((resolve) => timer = setTimeout(resolve, 100)),
          ]);
          clearTimeout(timer);
        };
        // ioredis tells of a lost connection by "close" alone (after an
        // error, when the socket had one), and of each failed attempt to
        // reconnect by an error and a "close"; it subscribes again, or not
        // (autoResubscribe), without saying when the server has taken the
        // subscription back: a subscribe of this module's own on each new
        // connection, once answered, says so.
        let connection = 0;
        // Whether the current connection got as far as ready: its close is
        // a loss to report, where a failed attempt's has its error.
        let up = true;
        // Ended by close() below, which waits for it.
        const opening = failedOnError(subscriber, events.failed, () => {});
        subscriber.on(
          "message",
          (_channel, message) => events.message(message),
        );
        subscriber.on("close", () => {
          if (!opening.isListening || closing) return;
          connection++;
          if (up) events.failed(new SubscriberLostError());
          up = false;
        });
        subscriber.on("ready", () => {
          if (!opening.isListening || closing) return;
          const current = ++connection;
          up = true;
          subscriber.subscribe(channel).then(() => {
            if (current === connection && !closing) events.resumed();
          }, (error) => {
            // A connection lost meanwhile has said so, and the next one
            // subscribes again.
            if (current === connection && !closing) events.failed(error);
          });
        });
        try {
          await Promise.race([subscriber.subscribe(channel), opening.failed]);
        } catch (error) {
          await close();
          throw error;
        }
        opening.listening();
        return { close };
      },
    };
  }
  if (isNodeRedis(client)) {
    // node-redis's duplicate() is not connected; ioredis's connects itself.
    return {
      command: (args) => client.sendCommand(args),
      async subscriber(channel, events) {
        const subscriber = client.duplicate();
        // Ended from inside its error event, connect() rejects at once
        // instead of after its next retry's delay.
        const end = () => {
          if (subscriber.destroy) subscriber.destroy();
          else subscriber.disconnect().catch(() => {});
        };
        const opening = failedOnError(subscriber, events.failed, end);
        // node-redis reports a lost connection as an error, and, on each
        // reconnection, subscribes again and waits for the server's answer
        // before it emits "ready": a "ready" once listening is the
        // subscription back.
        subscriber.on("ready", () => {
          if (opening.isListening) events.resumed();
        });
        const subscribing = (async () => {
          await subscriber.connect();
          await subscriber.subscribe(
            channel,
            (message) => events.message(message),
          );
        })();
        subscribing.catch(() => {});
        try {
          await Promise.race([subscribing, opening.failed]);
        } catch (error) {
          end();
          throw error;
        }
        opening.listening();
        return {
          async close() {
            await (subscriber.close?.() ?? subscriber.quit());
          },
        };
      },
    };
  }
  throw new TypeError(
    "redisStore needs a node-redis (v4 or later) or an ioredis client; received " +
      (client === null ? "null" : typeof client),
  );
}

// A script as one store runs it: its digest once loaded, how many loads have
// been answered, and the load in flight.
interface LoadedScript {
  digest: string | undefined;
  loads: number;
  loading: Promise<string> | undefined;
}

/**
 * Runs Lua scripts by their digest. Each script is loaded by one `SCRIPT
 * LOAD` at a time, however many calls need it at once: on first use, and
 * again when the server has lost it (`SCRIPT FLUSH`, a restart, a failover)
 * and every call in flight finds it missing.
 */
export class Scripts {
  readonly #connection: Connection;
  readonly #scripts = new Map<string, LoadedScript>();

  constructor(connection: Connection) {
    this.#connection = connection;
  }

  /** Runs `script` with `keys` and `args`; resolves with its reply. */
  async run(script: string, keys: string[], args: string[]): Promise<unknown> {
    let loaded = this.#scripts.get(script);
    if (loaded === undefined) {
      loaded = { digest: undefined, loads: 0, loading: undefined };
      this.#scripts.set(script, loaded);
    }
    // A call that finds the script missing after it was loaded again tries
    // once more; a third miss is the server's fault, and the caller's error.
    for (let attempt = 1;; attempt++) {
      const digest = loaded.digest ?? await this.#load(script, loaded);
      const loads = loaded.loads;
      try {
        return await this.#connection.command([
          "EVALSHA",
          digest,
          String(keys.length),
          ...keys,
          ...args,
        ]);
      } catch (error) {
        const missing = String((error as Error)?.message).includes("NOSCRIPT");
        if (!missing || attempt === 3) throw error;
        // A load answered since this call was sent may have put the script
        // back: the call tries again with it. Only a call that no load has
        // answered since needs a load, and joins the one in flight; the
        // many calls a flush fails at once are all answered before the
        // load they start, which comes after them on the connection.
        if (loaded.loads === loads) loaded.digest = undefined;
      }
    }
  }

  #load(script: string, loaded: LoadedScript): Promise<string> {
    loaded.loading ??= this.#connection.command(["SCRIPT", "LOAD", script])
      .then((reply) => {
        loaded.digest = String(reply);
        loaded.loads++;
        return loaded.digest;
      }).finally(() => loaded.loading = undefined);
    return loaded.loading;
  }
}

// For so long a counter is read again as soon as a read is answered: the
// runtime's shortest timer takes longer, some 2 ms, than the round trips a
// count usually needs.
const COUNT_EAGER_MS = 1;
// The longest pause between two reads of a counter, after those.
const COUNT_POLL_MAX_MS = 16;

/**
 * Reads the integer at `key` (none is 0) until it reaches `target`, for at
 * most `timeoutMs`: again at once for the first millisecond, then after a
 * pause of 1 ms doubling up to 16 ms; a read still unanswered at the end is
 * not waited for. Resolves with the last count read.
 */
export async function countUp(
  connection: Connection,
  key: string,
  target: number,
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  let count = 0;
  let pause = 1;
  for (;;) {
    const read = await beforeDeadline(
      connection.command(["GET", key]),
      deadline,
    );
    if (read !== LATE) count = Number(read ?? 0);
    const now = performance.now();
    if (count >= target || now >= deadline) return count;
    if (now - started < COUNT_EAGER_MS) continue;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(pause, deadline - now))
    );
    pause = Math.min(2 * pause, COUNT_POLL_MAX_MS);
  }
}

const LATE = Symbol("late");

// `reply`, or LATE once `deadline` (of performance.now()) has passed; a reply
// that comes later is dropped, and so is its failure.
function beforeDeadline<T>(
  reply: Promise<T>,
  deadline: number,
): Promise<T | typeof LATE> {
  reply.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(
      () => resolve(LATE),
      Math.max(0, deadline - performance.now()),
    );
  });
  return Promise.race([reply, late]).finally(() => clearTimeout(timer));
}
