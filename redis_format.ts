/**
 * How `redisStore` keeps a value in Redis, and the scripts that read, lease
 * and write it: the format that reading must know, whether by one plain
 * `MGET` (the warm read) or by a script. Also {@linkcode ServerClock}, the
 * estimate of the Redis server's clock that lets a plain read say what is
 * left of a value without asking the server for `PTTL`.
 *
 * @module
 */

/**
 * Every value is kept as ENVELOPE, then the generation it was written in,
 * ":", its deadline on the Redis server's clock (ms since the epoch, as
 * `TIME` gives it; empty for none), ":", then the text. Anything else under
 * the key reads as corrupt rather than as a value, and a value of an older
 * generation (from before a clear) as none. The key also has the value's
 * lifetime as its expiry (`PX`), so Redis drops it then; the deadline is
 * there so that a plain `GET` tells what is left, measured by the server's
 * clock, never by a process's wall clock.
 */
export const ENVELOPE = "alru3:";
/**
 * The envelopes of earlier versions (`alru1:` kept a deadline of the
 * writer's wall clock, `alru2:` no deadline at all): read as no value, and
 * written over.
 */
export const FORMER_ENVELOPES: readonly string[] = ["alru1:", "alru2:"];

/** What {@linkcode READ_OR_LEASE} found for a key without a value: leased it. */
export const LEASED = 1;
/** Another process holds the key's lease. */
export const BUSY = 2;
/** The key holds something that is not a value of this store's. */
export const CORRUPT = 3;

// A lease is kept as the generation it was taken in, ":", then its token, so
// that a clear ends it as it ends the values: a lease of an older generation
// holds nothing, and the next reader takes the key.

const formerChecks = FORMER_ENVELOPES.map((former) =>
  ` and\n      string.sub(value, 1, ${former.length}) ~= '${former}'`
).join("");

/**
 * KEYS: the generation, then each key's value and lease. ARGV: lease ms, the
 * tokens' prefix. For each key, in order: its envelope and what is left of
 * its lifetime (PTTL: the script needs no clock), when it has a value of
 * this generation; else LEASED and its token (the prefix and the key's
 * place), after taking its lease, when no lease of this generation holds it;
 * else BUSY and what is left of the lease (-1 for none: no cache's), or
 * CORRUPT and 0. Last, the generation.
 */
export const READ_OR_LEASE = `
local generation = redis.call('GET', KEYS[1]) or '0'
local current = '${ENVELOPE}' .. generation .. ':'
local held = generation .. ':'
local found = {}
for i = 2, #KEYS, 2 do
  local value = redis.call('GET', KEYS[i])
  if value and string.sub(value, 1, string.len(current)) == current then
    found[i - 1] = value
    found[i] = redis.call('PTTL', KEYS[i])
  elseif value and string.sub(value, 1, ${ENVELOPE.length}) ~= '${ENVELOPE}'${formerChecks} then
    found[i - 1] = ${CORRUPT}
    found[i] = 0
  else
    local lease = redis.call('GET', KEYS[i + 1])
    if lease and string.sub(lease, 1, string.len(held)) == held then
      found[i - 1] = ${BUSY}
      found[i] = redis.call('PTTL', KEYS[i + 1])
    else
      local token = ARGV[2] .. (i / 2)
      redis.call('SET', KEYS[i + 1], held .. token, 'PX', ARGV[1])
      found[i - 1] = ${LEASED}
      found[i] = token
    end
  end
end
found[#KEYS] = generation
return found`;

/**
 * KEYS: the generation, then leases. For each lease, what is left of it if
 * it is of this generation, else -2: whether a waiter's key may be free.
 */
export const LEASES_LEFT = `
local held = (redis.call('GET', KEYS[1]) or '0') .. ':'
local left = {}
for i = 2, #KEYS do
  local lease = redis.call('GET', KEYS[i])
  if lease and string.sub(lease, 1, string.len(held)) == held then
    left[i - 1] = redis.call('PTTL', KEYS[i])
  else
    left[i - 1] = -2
  end
end
return left`;

/**
 * KEYS: the generation, then each key's value and lease. ARGV: the channel,
 * then for each key its lease (generation:token), its text, its lifetime in
 * whole ms ('' for none) and the key. A clear or an invalidation since a
 * lease was taken wins: a value is written, its lease dropped and its
 * waiters told only if the lease still holds and is of this generation. The
 * deadline in the envelope is the server's own `TIME` plus the lifetime, the
 * moment `PX` ends the key, give or take the microseconds between the two.
 */
export const WRITE = `
local generation = redis.call('GET', KEYS[1]) or '0'
local held = generation .. ':'
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local written = {}
for i = 2, #KEYS, 2 do
  local a = 2 * i - 2
  local lease = ARGV[a]
  if string.sub(lease, 1, string.len(held)) == held and
      redis.call('GET', KEYS[i + 1]) == lease then
    local ttl = ARGV[a + 2]
    if ttl == '' then
      redis.call('SET', KEYS[i], '${ENVELOPE}' .. held .. ':' .. ARGV[a + 1])
    else
      local deadline = string.format('%.0f', now + tonumber(ttl))
      redis.call('SET', KEYS[i],
        '${ENVELOPE}' .. held .. deadline .. ':' .. ARGV[a + 1], 'PX', ttl)
    end
    redis.call('DEL', KEYS[i + 1])
    redis.call('PUBLISH', ARGV[1], 'w:' .. ARGV[a + 3])
    written[i / 2] = 1
  else
    written[i / 2] = 0
  end
end
return written`;

/** A value's envelope, taken apart. */
export interface Envelope {
  /** The generation it was written in. */
  readonly generation: string;
  /** Its deadline on the server's clock, in ms; `Infinity` for none. */
  readonly deadline: number;
  /** The text, as the cache serialized it. */
  readonly text: string;
}

/**
 * `stored` taken apart, if it is in this version's envelope; `undefined`
 * for anything else (no value, a former envelope, something corrupt).
 */
export function openEnvelope(stored: unknown): Envelope | undefined {
  if (typeof stored !== "string" || !stored.startsWith(ENVELOPE)) {
    return undefined;
  }
  const generationEnd = stored.indexOf(":", ENVELOPE.length);
  const deadlineEnd = generationEnd < 0
    ? -1
    : stored.indexOf(":", generationEnd + 1);
  if (deadlineEnd < 0) return undefined;
  const deadline = deadlineEnd === generationEnd + 1
    ? Infinity
    : Number(stored.slice(generationEnd + 1, deadlineEnd));
  return {
    generation: stored.slice(ENVELOPE.length, generationEnd),
    deadline,
    text: stored.slice(deadlineEnd + 1),
  };
}

/**
 * How long a reading of the server's clock is used before it is taken
 * again: the two clocks drift apart by parts per million, a few ms a
 * minute at worst.
 */
export const SERVER_CLOCK_REFRESH_MS = 60_000;

// One reading of the server's clock: what TIME said, and this process's
// clocks when the command was sent.
interface Reading {
  readonly server: number;
  readonly sent: number;
  readonly sentWall: number;
}

/**
 * An estimate of the Redis server's clock (`TIME`), from one reading taken
 * on first use and again every {@linkcode SERVER_CLOCK_REFRESH_MS}. The
 * estimate never runs behind the server: the reading is counted from when
 * `TIME` was sent, not from when it was answered, so that what a reader
 * computes as left of a value is at most what is left, less by at most
 * that reading's round trip. Time since the reading is the longer of what
 * `performance.now()` and `Date.now()` measured: the first stands still
 * while the machine sleeps, the second may be stepped back, and neither
 * may make a copy outlive its value.
 */
export class ServerClock {
  readonly #command: (args: string[]) => Promise<unknown>;
  #reading: Reading | undefined;
  #asking = false;

  /** `command` sends one command to the server. */
  constructor(command: (args: string[]) => Promise<unknown>) {
    this.#command = command;
  }

  /**
   * The server's time now, in ms since the epoch, at the latest it can be;
   * `undefined` until a first reading has been answered (which this call
   * asks for, as it asks for a new one once the last is old).
   */
  now(): number | undefined {
    const reading = this.#reading;
    const now = performance.now();
    if (reading === undefined || now - reading.sent > SERVER_CLOCK_REFRESH_MS) {
      this.#read();
    }
    if (reading === undefined) return undefined;
    return reading.server +
      Math.max(now - reading.sent, Date.now() - reading.sentWall);
  }

  // Reads TIME, one reading at a time; a failure leaves the last reading
  // (or none) and is tried again on the next use.
  #read(): void {
    if (this.#asking) return;
    this.#asking = true;
    const sent = performance.now();
    const sentWall = Date.now();
    this.#command(["TIME"]).then((reply) => {
      const [seconds, micros] = reply as [unknown, unknown];
      const server = Number(seconds) * 1_000 + Number(micros) / 1_000;
      if (Number.isFinite(server)) this.#reading = { server, sent, sentWall };
    }, () => {}).finally(() => this.#asking = false);
  }
}
