import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConnectionUrl, parseHosts } from "../../src/drivers/_shared/connection_url.ts";
import { checkPort, sslMode } from "../../src/drivers/_shared/driver_options.ts";
import { resolveOptions as resolvePostgres } from "../../src/drivers/postgres/_resolve_options.ts";
import { resolveOptions as resolveBun } from "../../src/drivers/bun/_resolve_options.ts";
import { resolveOptions as resolvePg } from "../../src/drivers/pg/_resolve_options.ts";

const SECRET = "Hunter2";

/** The error `fn` throws, checked to be of `type` and to show no part of the password. */
function refusal(fn: () => unknown, type: ErrorConstructor | RangeErrorConstructor): Error {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof type, String(error));
    assert.ok(!error.message.includes(SECRET), error.message);
    assert.ok(!error.message.toLowerCase().includes("hunter"), error.message);
    return error;
  }
  assert.fail("no error");
}

describe("parseConnectionUrl", () => {
  it("reads user, password, host, port and database, percent-decoded", () => {
    assert.deepEqual(
      parseConnectionUrl("postgres://us%40er:p%40ss%2Fw%3Ard@db.internal:6543/my%20db", "postgres"),
      {
        username: "us@er",
        password: "p@ss/w:rd",
        host: "db.internal",
        port: 6543,
        database: "my db",
        connection: {},
      },
    );
  });

  it("takes postgresql: as well, and leaves out what the URL does not name", () => {
    assert.deepEqual(parseConnectionUrl("postgresql://", "postgres"), { connection: {} });
    assert.deepEqual(parseConnectionUrl("postgres://app@/", "postgres"), {
      username: "app",
      connection: {},
    });
  });

  it("reads an IPv6 address in brackets, with or without a port", () => {
    assert.deepEqual(parseConnectionUrl("postgres://app@[::1]:5433/db", "postgres"), {
      username: "app",
      host: "::1",
      port: 5433,
      database: "db",
      connection: {},
    });
    assert.equal(
      parseConnectionUrl("postgres://app@[fe80::1%25eth0]/db", "x").host,
      "fe80::1%eth0",
    );
  });

  it("reads several hosts, each with its own port or none", () => {
    const url = parseConnectionUrl(
      `postgres://app:${SECRET}@one:5433,two,[::1]:5434/db?target_session_attrs=read-write`,
      "postgres",
    );
    assert.deepEqual(url.hosts, [
      { host: "one", port: 5433 },
      { host: "two", port: undefined },
      { host: "::1", port: 5434 },
    ]);
    assert.equal(url.host, undefined);
    assert.equal(url.password, SECRET);
    assert.deepEqual(url.connection, { target_session_attrs: "read-write" });
  });

  it("reads sslmode as libpq's modes, ssl=true and false, and sslrootcert=system", () => {
    for (const mode of ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]) {
      assert.equal(parseConnectionUrl(`postgres://h/db?sslmode=${mode}`, "x").ssl, mode);
    }
    assert.equal(parseConnectionUrl("postgres://h/db?ssl=true", "x").ssl, "verify-full");
    assert.equal(parseConnectionUrl("postgres://h/db?ssl=false", "x").ssl, "disable");
    for (
      const query of ["sslrootcert=system&sslmode=require", "sslmode=prefer&sslrootcert=system"]
    ) {
      assert.equal(parseConnectionUrl(`postgres://h/db?${query}`, "x").ssl, "verify-full");
    }
    const url = parseConnectionUrl("postgres://h/db?sslrootcert=/etc/ca.pem", "x");
    assert.equal(url.ssl, undefined);
    assert.equal(url.sslrootcert, "/etc/ca.pem");
    assert.deepEqual(url.connection, {});
  });

  it("reads connect_timeout as a number and keeps other parameters as startup parameters", () => {
    const url = parseConnectionUrl(
      "postgres://h/db?connect_timeout=5&application_name=my%20api&search_path=a,b#frag",
      "x",
    );
    assert.equal(url.connect_timeout, 5);
    assert.deepEqual(url.connection, { application_name: "my api", search_path: "a,b" });
  });

  it("refuses another scheme or no URL at all, naming the scheme only", () => {
    const error = refusal(
      () => parseConnectionUrl(`mysql://app:${SECRET}@h/db`, "Bun.SQL"),
      TypeError,
    );
    assert.equal(
      error.message,
      "Cannot create the Bun.SQL driver: the URL's scheme (mysql:) is not postgres: or postgresql:",
    );
    refusal(() => parseConnectionUrl(`app:${SECRET}@h/db`, "Bun.SQL"), TypeError);
  });

  it("refuses a bad port, naming it only when it is a number", () => {
    const error = refusal(
      () => parseConnectionUrl(`postgres://app:${SECRET}@h:70000/db`, "postgres"),
      RangeError,
    );
    assert.match(error.message, /port \(70000\) is not an integer from 1 to 65535/);
    // An unencoded "/" in the password ends the authority: the rest looks like a port.
    refusal(() => parseConnectionUrl(`postgres://app:${SECRET}/x@h/db`, "postgres"), RangeError);
    refusal(() => parseConnectionUrl(`postgres://app:${SECRET}@h:0/db`, "postgres"), RangeError);
    refusal(() => parseConnectionUrl(`postgres://app:${SECRET}@one,two:x/db`, "x"), RangeError);
  });

  it("shows no password in any error", () => {
    const urls = [
      `postgres://app:${SECRET}%zz@h/db`,
      `postgres://app%zz:${SECRET}@h/db`,
      `postgres://app:${SECRET}@h/db%zz`,
      `postgres://app:${SECRET}@[::1/db`,
      `postgres://app:${SECRET}@[::1]x/db`,
      `postgres://app:${SECRET}@h/db?sslmode=verify`,
      `postgres://app:${SECRET}?x@h/db`,
    ];
    for (const url of urls) {
      refusal(() => parseConnectionUrl(url, "postgres"), Error);
    }
  });
});

describe("parseHosts, checkPort and sslMode", () => {
  it("splits a host list without decoding it", () => {
    assert.deepEqual(parseHosts("a%20b:1,[::1]", "x"), [
      { host: "a%20b", port: 1 },
      { host: "::1", port: undefined },
    ]);
  });

  it("checks a port, 5432 when left out", () => {
    assert.equal(checkPort(undefined, "x"), 5432);
    assert.equal(checkPort(65535, "x"), 65535);
    assert.throws(() => checkPort(1.5, "x"), /port \(1\.5\) is not an integer from 1 to 65535/);
    assert.throws(() => checkPort("x", "x"), RangeError);
  });

  it("maps the ssl option as libpq's sslmode, and names an unknown value", () => {
    assert.equal(sslMode(undefined, "ssl", "x"), "disable");
    assert.equal(sslMode(false, "ssl", "x"), "disable");
    assert.equal(sslMode(true, "ssl", "x"), "verify-full");
    const tls = { ca: "..." };
    assert.equal(sslMode(tls, "ssl", "x"), tls);
    assert.throws(
      () => sslMode("verify", "sslmode", "postgres"),
      new RangeError(
        'Cannot create the postgres driver: sslmode ("verify") is not one of "disable", "allow", "prefer", "require", "verify-ca", "verify-full", true, false or TLS options',
      ),
    );
    assert.throws(() => sslMode(null, "ssl", "x"), RangeError);
  });
});

describe("the drivers' options from a URL", () => {
  it("postgres: hosts and ports as arrays, a port option for hosts without one", () => {
    const { options } = resolvePostgres(
      `postgres://app:${SECRET}@one:5433,two,[::1]:5434/db?keep_alive=5&target_session_attrs=primary`,
      { port: 6000 },
    );
    assert.deepEqual(options.host, ["one", "two", "::1"]);
    assert.deepEqual(options.port, [5433, 6000, 5434]);
    assert.equal(options.path, undefined);
    assert.equal(options.keep_alive, 5);
    assert.equal(options.target_session_attrs, undefined, "checked by the driver, not postgres.js");
    assert.deepEqual(options.connection, { application_name: "postgres.js" });
  });

  it("every driver: takes target_session_attrs out of the startup parameters and checks it", () => {
    const url = `postgres://app:${SECRET}@one:5433,two/db?target_session_attrs=read-write`;
    const postgres = resolvePostgres(url, undefined);
    const bun = resolveBun(url, undefined);
    const pg = resolvePg(url, undefined);
    for (const resolved of [postgres, bun, pg]) {
      assert.equal(resolved.targetSessionAttrs, "read-write");
      assert.deepEqual(resolved.hosts, [{ host: "one", port: 5433 }, { host: "two", port: 5432 }]);
    }
    assert.deepEqual(bun.bun.connection, {});
    assert.equal(pg.client.options, undefined);
    assert.equal(resolvePg({ username: "app" }, undefined).targetSessionAttrs, "any");
    const error = refusal(
      () => resolvePostgres(url.replace("read-write", "writable"), undefined),
      RangeError,
    );
    assert.match(error.message, /target_session_attrs \("writable"\) is not one of/);
    assert.doesNotMatch(error.message, new RegExp(SECRET));
  });

  it("postgres: a host option replaces the URL's, and a Unix socket directory gets its path", () => {
    const { options } = resolvePostgres("postgres://app@[::1]:5433/db", { host: "/run/pg" });
    assert.deepEqual(options.host, ["/run/pg"]);
    assert.deepEqual(options.port, [5433]);
    assert.equal(options.path, "/run/pg/.s.PGSQL.5433");
    const list = resolvePostgres({ username: "app", host: "a:5433,b" }, undefined).options;
    assert.deepEqual([list.host, list.port], [["a", "b"], [5433, 5432]]);
  });

  it("postgres: maps each sslmode to what postgres.js does for it", () => {
    const ssl = (mode: string) =>
      resolvePostgres(`postgres://app@h/db?sslmode=${mode}`, undefined).options.ssl;
    assert.equal(ssl("disable"), false);
    assert.equal(ssl("allow"), "prefer");
    assert.equal(ssl("prefer"), "prefer");
    assert.equal(ssl("require"), "require");
    assert.equal(ssl("verify-full"), "verify-full");
    const verifyCa = ssl("verify-ca") as { checkServerIdentity?: () => unknown };
    assert.equal(typeof verifyCa.checkServerIdentity, "function");
    assert.equal(verifyCa.checkServerIdentity!(), undefined);
    assert.equal(
      resolvePostgres({ username: "app", ssl: true }, undefined).options.ssl,
      "verify-full",
    );
  });

  it("Bun.SQL: hands each sslmode to Bun by name, and takes several hosts", () => {
    const tls = (mode: string) =>
      resolveBun(`postgres://app@h/db?sslmode=${mode}`, undefined).bun.tls;
    for (const mode of ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]) {
      assert.equal(tls(mode), mode);
    }
    assert.equal(resolveBun({ username: "app" }, undefined).bun.tls, "disable");
    assert.equal(resolveBun({ username: "app", ssl: true }, undefined).bun.tls, "verify-full");
    const several = resolveBun(`postgres://app:${SECRET}@one,two:5433/db`, undefined);
    assert.deepEqual(several.hosts, [{ host: "one", port: 5432 }, { host: "two", port: 5433 }]);
    assert.equal(several.bun.hostname, "one");
    const { bun } = resolveBun("postgres://app@[::1]:5433/db?connect_timeout=3", undefined);
    assert.deepEqual([bun.hostname, bun.port, bun.connectionTimeout], ["::1", 5433, 3]);
  });
});
