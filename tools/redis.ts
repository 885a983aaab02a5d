/**
 * A throwaway `redis-server` for the tests and for development: it listens on
 * 127.0.0.1 on a free port, keeps nothing on disk, and is gone when the run
 * ends.
 *
 * As a command:
 *
 * ```sh
 * # Runs the command with REDIS_URL set, then stops the server and exits with
 * # the command's status (also when the command fails or on Ctrl-C).
 * deno run --allow-all tools/redis.ts -- deno test --allow-all
 * # Starts a server, prints its URL, and keeps it until Ctrl-C
 * # (`deno task redis`); `--port=N` picks the port.
 * deno run --allow-all tools/redis.ts
 * ```
 *
 * As a module: {@linkcode redisUrl} reads `REDIS_URL` and fails with how to
 * set it; {@linkcode startRedis} gives a test a server of its own, which
 * {@linkcode stopServer} and {@linkcode restartServer} take down and bring
 * back on the same port (a test that does so uses its own server, so the
 * shared one stays up for the others); {@linkcode redisCommand} sends one
 * command without any client library.
 *
 * `redis-server` comes from the Debian package of that name; `REDIS_SERVER`
 * names another binary that takes the same flags (`valkey-server`).
 *
 * @module
 */

import { findOnPath, installDebianPackage } from "./debian.ts";

const HOST = "127.0.0.1";
const INSTALL_HINT =
  "install the Debian package redis-server (apt-get install -y redis-server); " +
  ".ci/run installs it when it is missing";
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const REPLY_TIMEOUT_MS = 5_000;

/** A `redis-server` process that this module started. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, what `REDIS_URL` holds. */
  readonly url: string;
  /** Always 127.0.0.1. */
  readonly host: string;
  /** The TCP port, kept across {@linkcode restartServer}. */
  readonly port: number;
  /** False between {@linkcode stopServer} and {@linkcode restartServer}. */
  readonly running: boolean;
  /**
   * Holds every client's commands for `ms` milliseconds (`CLIENT PAUSE ms
   * ALL`): the store is up but does not answer, which is how a timeout looks.
   */
  pause(ms: number): Promise<void>;
  /** Ends the process, waits for it to exit and removes its directory. */
  stop(): Promise<void>;
}

/** What {@linkcode startRedis} accepts. */
export interface StartOptions {
  /** The port to listen on; a free one when absent. */
  port?: number;
}

/** A reply from {@linkcode redisCommand}, RESP2 as plain values. */
export type RedisReply = string | number | null | RedisReply[];

/** An error reply (`-ERR ...`) from the server. */
export class RedisReplyError extends Error {
  override name = "RedisReplyError";
}

/**
 * The URL of the server the tests run against, from `REDIS_URL`. Throws a
 * message saying how to run the tests when it is missing, so that a test
 * needing Redis fails loudly instead of being skipped.
 */
export function redisUrl(): string {
  const url = Deno.env.get("REDIS_URL");
  if (!url) {
    throw new Error(
      "REDIS_URL is not set: these tests need a real Redis server. Run them " +
        "through `deno task test` (which starts one), or start one with " +
        "`deno task redis` and export the REDIS_URL it prints. " +
        `(To get redis-server: ${INSTALL_HINT}.)`,
    );
  }
  return url;
}

/** Starts a fresh `redis-server` and resolves once it answers PING. */
export async function startRedis(
  options: StartOptions = {},
): Promise<RedisServer> {
  const binary = await findServerBinary();
  const dir = await Deno.makeTempDir({ prefix: "async-lru-redis-" });
  try {
    // A port found free can be taken before the server binds it; a fresh one
    // is tried then, unless the caller asked for this port.
    const attempts = options.port === undefined ? 3 : 1;
    for (let attempt = 1;; attempt++) {
      const server = new Server(binary, dir, options.port ?? freePort());
      try {
        await server.launch();
        return server;
      } catch (error) {
        if (attempt >= attempts || !(error instanceof PortInUseError)) {
          throw error;
        }
      }
    }
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * Ends the server's process but keeps its port and directory, for a test of
 * the store going away; {@linkcode restartServer} brings it back.
 */
export async function stopServer(server: RedisServer): Promise<void> {
  await own(server).halt();
}

/**
 * Starts the server again on the same port, empty, and resolves once it
 * answers. Clients that reconnect by themselves find it at the same URL.
 */
export async function restartServer(server: RedisServer): Promise<void> {
  await own(server).launch();
}

/**
 * Sends one command over a new TCP connection and returns its reply, with no
 * client library in between, so that a test can drive the server (`FLUSHALL`,
 * `CLIENT PAUSE 500 ALL`, `INCR k`) without trusting the client under test.
 * A user and password or a database number in the URL are sent first.
 */
export async function redisCommand(
  url: string,
  ...args: (string | number)[]
): Promise<RedisReply> {
  const target = new URL(url);
  const commands: (string | number)[][] = [];
  if (target.password) {
    const user = decodeURIComponent(target.username);
    const password = decodeURIComponent(target.password);
    commands.push(user ? ["AUTH", user, password] : ["AUTH", password]);
  }
  const db = target.pathname.replace(/^\//, "");
  if (db !== "" && db !== "0") commands.push(["SELECT", db]);
  commands.push(args);
  const replies = await exchange(
    target.hostname,
    Number(target.port || 6379),
    commands,
    REPLY_TIMEOUT_MS,
  );
  return replies[replies.length - 1];
}

class PortInUseError extends Error {}

class Server implements RedisServer {
  readonly host = HOST;
  readonly url: string;
  #child: Deno.ChildProcess | undefined;
  #exit: Promise<Deno.CommandStatus> | undefined;

  constructor(
    readonly binary: string,
    readonly dir: string,
    readonly port: number,
  ) {
    this.url = `redis://${HOST}:${port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Settles when the current process exits, stopped or not. */
  get exited(): Promise<unknown> {
    return this.#exit ?? Promise.resolve();
  }

  async launch(): Promise<void> {
    if (this.#child) throw new Error(`${this.url} is already running`);
    const logfile = `${this.dir}/redis.log`;
    await Deno.writeTextFile(logfile, "");
    const child = new Deno.Command(this.binary, {
      args: [
        ...["--port", String(this.port), "--bind", HOST],
        ...["--protected-mode", "yes", "--daemonize", "no"],
        // Nothing may outlive the run: no snapshots, no append-only file,
        // and whatever the server would write goes to a directory removed
        // on stop.
        ...["--save", "", "--appendonly", "no", "--dir", this.dir],
        ...["--logfile", logfile],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      // Its own session keeps a terminal's Ctrl-C from killing the server
      // under the command that is still using it; the CLI stops it after.
      detached: true,
    }).spawn();
    this.#child = child;
    this.#exit = child.status;
    let exited = false;
    this.#exit.then(() => exited = true);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited) {
        this.#child = undefined;
        const log = await Deno.readTextFile(logfile).catch(() => "");
        const why =
          `redis-server on port ${this.port} exited at start:\n${log}`;
        throw /already in use/i.test(log)
          ? new PortInUseError(why)
          : new Error(why);
      }
      const reply = await exchange(HOST, this.port, [["PING"]], 500).then(
        (replies) => replies[0],
        () => undefined,
      );
      if (reply === "PONG") return;
      if (Date.now() > deadline) {
        await this.halt();
        throw new Error(
          `redis-server on port ${this.port} did not answer PING within ` +
            `${START_TIMEOUT_MS} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async halt(): Promise<void> {
    const child = this.#child;
    const exit = this.#exit;
    if (!child || !exit) return;
    this.#child = undefined;
    // SIGTERM rather than SHUTDOWN: it works while clients are paused, and
    // with no save points configured the server writes nothing on the way out.
    signal(child, "SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        signal(child, "SIGKILL");
        resolve();
      }, STOP_TIMEOUT_MS);
    });
    await Promise.race([exit, killed]);
    clearTimeout(timer);
    await exit;
  }

  async pause(ms: number): Promise<void> {
    await redisCommand(this.url, "CLIENT", "PAUSE", ms, "ALL");
  }

  async stop(): Promise<void> {
    await this.halt();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function own(server: RedisServer): Server {
  if (!(server instanceof Server)) {
    throw new TypeError("only a server from startRedis() can be stopped here");
  }
  return server;
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // It has already exited; its status settles on its own.
  }
}

async function findServerBinary(): Promise<string> {
  const name = Deno.env.get("REDIS_SERVER") || "redis-server";
  const found = await findOnPath(name);
  if (found !== undefined) return found;
  // A fresh Debian machine, where the README's test command is all one
  // runs, lacks it: install it there when allowed to, as .ci/run does.
  if (name === "redis-server" && await installDebianPackage(name)) {
    const installed = await findOnPath(name);
    if (installed !== undefined) return installed;
  }
  throw new Error(`${name} was not found on PATH: ${INSTALL_HINT}.`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(commands: (string | number)[][]): Uint8Array {
  const parts: string[] = [];
  for (const args of commands) {
    parts.push(`*${args.length}\r\n`);
    for (const arg of args) {
      const text = String(arg);
      parts.push(`$${encoder.encode(text).length}\r\n${text}\r\n`);
    }
  }
  return encoder.encode(parts.join(""));
}

/** Writes the commands in one go and reads one reply for each. */
async function exchange(
  hostname: string,
  port: number,
  commands: (string | number)[][],
  timeoutMs: number,
): Promise<RedisReply[]> {
  const conn = await Deno.connect({ hostname, port });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    conn.close();
  };
  // Closing the socket is what ends a read that would otherwise wait for a
  // server that never answers (a paused or frozen one).
  const timer = setTimeout(close, timeoutMs);
  try {
    const request = encode(commands);
    for (let written = 0; written < request.length;) {
      written += await conn.write(request.subarray(written));
    }
    const replies: (RedisReply | RedisReplyError)[] = [];
    let buffer = new Uint8Array(0);
    let offset = 0;
    const chunk = new Uint8Array(16 * 1024);
    while (replies.length < commands.length) {
      const parsed = parse(buffer, offset);
      if (parsed) {
        replies.push(parsed.value);
        offset = parsed.next;
        continue;
      }
      let read: number | null;
      try {
        read = await conn.read(chunk);
      } catch (error) {
        if (closed) {
          throw new Error(
            `no reply from ${hostname}:${port} in ${timeoutMs} ms`,
          );
        }
        throw error;
      }
      if (read === null) {
        throw new Error(`${hostname}:${port} closed the connection`);
      }
      const grown = new Uint8Array(buffer.length - offset + read);
      grown.set(buffer.subarray(offset));
      grown.set(chunk.subarray(0, read), buffer.length - offset);
      buffer = grown;
      offset = 0;
    }
    const values: RedisReply[] = [];
    for (const reply of replies) {
      if (reply instanceof RedisReplyError) throw reply;
      values.push(reply);
    }
    return values;
  } finally {
    clearTimeout(timer);
    close();
  }
}

interface Parsed {
  value: RedisReply | RedisReplyError;
  next: number;
}

/**
 * One RESP2 reply from `at`, or undefined while it has not fully arrived. An
 * error reply, also one inside an array (`EXEC`), comes back as the value so
 * that the replies after it stay in step; exchange() throws it.
 */
function parse(buffer: Uint8Array, at: number): Parsed | undefined {
  const end = lineEnd(buffer, at);
  if (end < 0) return undefined;
  const line = decoder.decode(buffer.subarray(at + 1, end));
  const next = end + 2;
  switch (String.fromCharCode(buffer[at])) {
    case "+":
      return { value: line, next };
    case "-":
      return { value: new RedisReplyError(line), next };
    case ":":
      return { value: Number(line), next };
    case "$": {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buffer.length < next + length + 2) return undefined;
      const text = decoder.decode(buffer.subarray(next, next + length));
      return { value: text, next: next + length + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RedisReply[] = [];
      let failure: RedisReplyError | undefined;
      let position = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, position);
        if (!item) return undefined;
        if (item.value instanceof RedisReplyError) failure ??= item.value;
        else items.push(item.value);
        position = item.next;
      }
      return { value: failure ?? items, next: position };
    }
    default:
      throw new Error(`unexpected reply from the server: ${line}`);
  }
}

function lineEnd(buffer: Uint8Array, from: number): number {
  for (let i = from; i + 1 < buffer.length; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10) return i;
  }
  return -1;
}

async function main(args: string[]): Promise<number> {
  const split = args.indexOf("--");
  const options = split < 0 ? args : args.slice(0, split);
  const command = split < 0 ? [] : args.slice(split + 1);
  let port: number | undefined;
  for (let i = 0; i < options.length; i++) {
    const arg = options[i];
    const value = arg === "--port"
      ? options[++i]
      : arg.match(/^--port=(.*)$/)?.[1];
    if (value !== undefined && /^\d+$/.test(value)) {
      port = Number(value);
    } else {
      console.error(
        `unknown argument ${arg}\n` +
          "usage: tools/redis.ts [--port=N] [-- command...]",
      );
      return 2;
    }
  }

  let server: RedisServer;
  try {
    server = await startRedis({ port });
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 1;
  }
  try {
    return command.length > 0
      ? await runCommand(server, command)
      : await serve(server);
  } finally {
    await server.stop();
  }
}

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

async function runCommand(
  server: RedisServer,
  [program, ...args]: string[],
): Promise<number> {
  let child: Deno.ChildProcess;
  try {
    // The task's `deno` is the binary running this script; PATH may not
    // have one (a run through npx).
    child = new Deno.Command(program === "deno" ? Deno.execPath() : program, {
      args,
      env: { REDIS_URL: server.url },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    console.error(`cannot run ${program}: ${error}`);
    return 127;
  }
  // The command decides how to end on a signal; this process only outlives
  // it, so that the server is stopped after the command is done with it.
  const forward = (name: Deno.Signal) => () => signal(child, name);
  const listeners = SIGNALS.map((name) => [name, forward(name)] as const);
  for (const [name, listener] of listeners) {
    Deno.addSignalListener(name, listener);
  }
  try {
    return (await child.status).code;
  } finally {
    for (const [name, listener] of listeners) {
      Deno.removeSignalListener(name, listener);
    }
  }
}

async function serve(server: RedisServer): Promise<number> {
  console.log(`redis-server listening at ${server.url}`);
  console.log(`export REDIS_URL=${server.url}`);
  console.log("Ctrl-C stops it.");
  const stopped = Promise.withResolvers<number>();
  const listeners = SIGNALS.map((name) => {
    const listener = () => stopped.resolve(0);
    Deno.addSignalListener(name, listener);
    return [name, listener] as const;
  });
  let stopping = false;
  const died = own(server).exited.then(() => {
    if (!stopping) console.error(`redis-server at ${server.url} exited`);
    return 1;
  });
  const code = await Promise.race([stopped.promise, died]);
  stopping = true;
  for (const [name, listener] of listeners) {
    Deno.removeSignalListener(name, listener);
  }
  console.log("\nstopping redis-server");
  return code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
