/**
 * The Bun.SQL driver against a real PostgreSQL: the `pooler` option, and
 * what reaches the server when a connection runs behind a pooler. Bun.SQL
 * exists only in Bun: on another runtime every test here is reported as
 * skipped, and no server is started.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { bunDriver, type BunDriverOptions } from "../../src/drivers/bun/mod.ts";
import { ConnectionPool, postgresDriver } from "../../mod.ts";
import { uniqueName } from "../support/driver_helpers.ts";
import { PREFIX, startBunDriverEnv } from "../support/bun_driver_env.ts";

const { suite, test, server, driverFor } = await startBunDriverEnv();

/**
 * Splits one direction of the protocol into messages and hands each one's
 * type and body to `onMessage`. The client's first message (startup) has
 * no type byte.
 */
function messages(
  untypedFirst: boolean,
  onMessage: (type: string, body: Uint8Array) => void,
): (chunk: Uint8Array) => void {
  let pending = new Uint8Array(0);
  let typed = !untypedFirst;
  return (chunk) => {
    const data = new Uint8Array(pending.length + chunk.length);
    data.set(pending);
    data.set(chunk, pending.length);
    let at = 0;
    for (;;) {
      const head = typed ? 1 : 0;
      if (data.length - at < head + 4) break;
      const length = new DataView(data.buffer, at + head, 4).getInt32(0);
      if (data.length - at < head + length) break;
      if (typed) onMessage(String.fromCharCode(data[at]), data.subarray(at + 5, at + 1 + length));
      typed = true;
      at += head + length;
    }
    pending = data.slice(at);
  };
}

/**
 * A loopback proxy to the server that reads the protocol of each connection
 * through it, once logged in: the messages the client sends (a Parse as
 * `P name`, with the statement's name), and how many exchanges (each ended
 * by Sync or a simple Query) it has sent that the server has not yet
 * answered (ReadyForQuery).
 */
async function protocolTap() {
  let sent: string[] = [];
  let most = 0;
  const sockets: Socket[] = [];
  const listener: Server = createServer((client) => {
    const upstream = connect(server().db.options.port, server().db.options.host);
    sockets.push(client, upstream);
    let loggedIn = false;
    let unanswered = 0;
    const fromClient = messages(true, (type, body) => {
      if (!loggedIn) return;
      const name = new TextDecoder().decode(body.subarray(0, body.indexOf(0)));
      sent.push(type === "P" ? `P ${name}` : type);
      if (type === "S" || type === "Q") most = Math.max(most, ++unanswered);
    });
    const fromServer = messages(false, (type) => {
      if (type !== "Z") return;
      if (loggedIn) unanswered--;
      loggedIn = true;
    });
    client.on("data", (chunk: Uint8Array) => {
      upstream.write(chunk);
      fromClient(chunk);
    });
    upstream.on("data", (chunk: Uint8Array) => {
      client.write(chunk);
      fromServer(chunk);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  const port = await new Promise<number>((resolve) =>
    listener.listen(0, "127.0.0.1", () => resolve((listener.address() as { port: number }).port))
  );
  return {
    port,
    /**
     * What the clients sent since the last call, and the most exchanges one
     * of them had unanswered at once; starts counting afresh.
     */
    take(): { sent: string[]; most: number } {
      const taken = { sent, most };
      sent = [];
      most = 0;
      return taken;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        listener.close(() => resolve());
      }),
  };
}

suite(() => {
  test("refuses a pooler other than transaction in postgresDriver's words, naming the value", () => {
    const url = server().db.url;
    for (const value of ["statement", "session", "TRANSACTION", 1, null]) {
      const options = { pooler: value } as unknown as BunDriverOptions;
      let postgresMessage = "";
      try {
        postgresDriver(url, options as never);
      } catch (error) {
        postgresMessage = (error as Error).message;
      }
      assert.throws(
        () => bunDriver(url, options),
        (error: Error) =>
          error instanceof TypeError &&
          error.message === postgresMessage.replace("the postgres driver", "the Bun.SQL driver") &&
          error.message.includes(typeof value === "string" ? `"${value}"` : String(value)),
      );
    }
  });

  test('with pooler "transaction", the pool refuses resetSession and discard() rejects, keeping the connection', async () => {
    const driver = driverFor(uniqueName(PREFIX), { pooler: "transaction" });
    assert.equal(driver.sharesSessions, true);
    assert.throws(
      () => new ConnectionPool({ driver, resetSession: true }),
      (error: Error) => error instanceof TypeError && /resetSession \(true\)/.test(error.message),
    );
    const direct = driverFor(uniqueName(PREFIX));
    assert.equal(direct.sharesSessions, false);
    await new ConnectionPool({ driver: direct, resetSession: true }).close();
    const connection = await driver.connect(AbortSignal.timeout(10_000));
    try {
      await connection.query("begin", []);
      await assert.rejects(connection.discard!(), TypeError);
      assert.equal(connection.dirty, true, "nothing was sent: the transaction is still open");
      await connection.reset();
      assert.deepEqual((await connection.query("select 1 as n", [])).rows, [{ n: 1 }]);
    } finally {
      await connection.close();
    }
  });

  test('with pooler "transaction", sends each statement unnamed in one exchange; prepare: true names it again', async () => {
    const tap = await protocolTap();
    const text = "select count(*)::int as n from pg_prepared_statements where $1::int > 0";
    const outcomes: Record<string, { prepared: number[]; sent: string[] }> = {};
    try {
      for (const prepare of [undefined, true]) {
        const connection = await bunDriver({ ...server().db.options, port: tap.port }, {
          pooler: "transaction",
          prepare,
        }).connect(AbortSignal.timeout(10_000));
        try {
          tap.take();
          const prepared = [];
          for (let i = 1; i <= 2; i++) {
            prepared.push((await connection.query(text, [i])).rows[0].n as number);
          }
          outcomes[String(prepare)] = { prepared, sent: tap.take().sent };
        } finally {
          await connection.close();
        }
      }
    } finally {
      await tap.close();
    }
    // Parse, Describe, Bind, Execute, Sync: nothing left on the backend for the next statement.
    const unnamed = ["P ", "D", "B", "E", "S"];
    assert.deepEqual(outcomes.undefined, { prepared: [0, 0], sent: [...unnamed, ...unnamed] });
    // Bun prepares in an exchange of its own, then only binds and executes.
    assert.deepEqual(outcomes.true, {
      prepared: [1, 1],
      sent: ["P P0", "D", "S", "B", "E", "S", "B", "E", "S"],
    });
  });

  test("sends one statement at a time, where Bun.SQL alone pipelines a prepared statement's runs", async () => {
    const tap = await protocolTap();
    const text = "select $1::int as n";
    const ten = Array.from({ length: 10 }, (_, i) => i);
    const mostUnanswered: Record<string, number> = {};
    try {
      const SQL = (globalThis as { Bun?: { SQL?: unknown } }).Bun!.SQL as new (
        options: Record<string, unknown>,
      ) => {
        unsafe(text: string, params: unknown[]): Promise<unknown>;
        close(): Promise<void>;
      };
      const { host, username, password, database } = server().db.options;
      const bun = new SQL({
        adapter: "postgres",
        hostname: host,
        port: tap.port,
        username,
        password,
        database,
        max: 1,
      });
      try {
        await bun.unsafe(text, [0]);
        tap.take();
        await Promise.all(ten.map((i) => bun.unsafe(text, [i])));
        mostUnanswered["Bun.SQL alone"] = tap.take().most;
      } finally {
        await bun.close();
      }
      for (const options of [{ prepare: true }, { pooler: "transaction" as const }]) {
        const connection = await bunDriver({ ...server().db.options, port: tap.port }, options)
          .connect(AbortSignal.timeout(10_000));
        try {
          await connection.query(text, [0]);
          tap.take();
          const results = await Promise.all(ten.map((i) => connection.query(text, [i])));
          assert.deepEqual(results.map((result) => result.rows[0].n), ten);
          mostUnanswered[JSON.stringify(options)] = tap.take().most;
        } finally {
          await connection.close();
        }
      }
    } finally {
      await tap.close();
    }
    assert.ok(mostUnanswered["Bun.SQL alone"] > 1, JSON.stringify(mostUnanswered));
    assert.deepEqual(mostUnanswered, {
      "Bun.SQL alone": mostUnanswered["Bun.SQL alone"],
      '{"prepare":true}': 1,
      '{"pooler":"transaction"}': 1,
    });
  });
});
