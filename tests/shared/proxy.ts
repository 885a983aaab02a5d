/**
 * A TCP proxy in front of a Redis server that holds back what the server
 * sends by a fixed delay, as a process further from the server than the
 * others sees it: its replies and its pub/sub messages arrive that much
 * later, in order. A client given the proxy's URL, and every duplicate of
 * it, goes through it; what the client sends goes on at once.
 */

/** A running proxy. */
export interface DelayingProxy {
  /** The URL to give a client: `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Closes the listener and every connection, and waits for them. */
  close(): Promise<void>;
}

/** Starts a proxy to the server at `url` that delays its replies by `delayMs`. */
export function delayingProxy(url: string, delayMs: number): DelayingProxy {
  const target = new URL(url);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let closed = false;
  const closeConn = (conn: Deno.Conn) => {
    if (!open.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // Closed already by the other side's end.
    }
  };
  const run = (task: Promise<void>) => {
    const tracked = task.catch(() => {}).finally(() => tasks.delete(tracked));
    tasks.add(tracked);
  };

  // Copies `from` to `to`; each chunk leaves `delayMs` after it arrived,
  // in order, while the next ones are read meanwhile.
  async function pipe(from: Deno.Conn, to: Deno.Conn, delay: number) {
    const queue: { due: number; data: Uint8Array }[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const writing = (async () => {
      for (;;) {
        while (queue.length === 0) {
          if (ended) return;
          await new Promise<void>((resolve) => wake = resolve);
        }
        const { due, data } = queue.shift()!;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        for (let written = 0; written < data.length;) {
          written += await to.write(data.subarray(written));
        }
      }
    })();
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const read = await from.read(buffer);
        if (read === null) break;
        queue.push({
          due: performance.now() + delay,
          data: buffer.slice(0, read),
        });
        wake?.();
      }
    } finally {
      ended = true;
      wake?.();
      await writing.catch(() => {});
      closeConn(from);
      closeConn(to);
    }
  }

  run((async () => {
    for await (const client of listener) {
      if (closed) {
        client.close();
        break;
      }
      open.add(client);
      run((async () => {
        let server: Deno.Conn;
        try {
          server = await Deno.connect({
            hostname: target.hostname,
            port: Number(target.port),
          });
        } catch {
          closeConn(client);
          return;
        }
        open.add(server);
        if (closed) closeConn(server);
        await Promise.all([
          pipe(client, server, 0),
          pipe(server, client, delayMs),
        ]);
      })());
    }
  })());

  return {
    url: `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      closed = true;
      listener.close();
      for (const conn of [...open]) closeConn(conn);
      while (tasks.size > 0) await Promise.all([...tasks]);
    },
  };
}
