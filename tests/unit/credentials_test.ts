import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool } from "../../mod.ts";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { ClusterPool } from "../../src/cluster/mod.ts";
import { redactError, secretsOf } from "../../src/drivers/_shared/redact.ts";
import { hideCredentials } from "../../src/_core/credentials.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";

const SECRET = "S3cr#t/p@ss";
const ENCODED = encodeURIComponent(SECRET);
const BUN_SKIP = ON_BUN ? undefined : "Bun.SQL needs Bun";

/** Every text an error shows: its message, stack, fields and causes'. */
function shown(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    parts.push(String(current));
    if (typeof current === "object") {
      for (const value of Object.values(current)) parts.push(String(value));
      parts.push(String((current as Error).stack), String((current as Error).message));
      current = (current as Error).cause;
    } else break;
  }
  return parts.join("\n");
}

/** The error `fn` throws, checked to show neither the password nor its pieces. */
function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    const text = shown(error);
    for (const piece of [SECRET, ENCODED, "S3cr", "p%40ss", "p@ss"]) {
      assert.ok(!text.includes(piece), `shows ${piece}: ${text}`);
    }
    return error as Error;
  }
  assert.fail("no error");
}

/** URLs that are wrong in each way a driver refuses, each with the password. */
const BAD_URLS = [
  `postgres://app:${ENCODED}@host:99999/app`,
  `postgres://app:${SECRET}@host:99999/app`,
  `postgres://app:${SECRET}@host:5432/app?sslmode=bogus`,
  `postgres://app:${ENCODED}@[::1/app`,
  `postgres://app:${ENCODED}@host/app?sslrootcert=/nonexistent/ca.pem&sslmode=verify-full`,
  `http://app:${ENCODED}@host/app`,
  `postgres://app:${ENCODED}@host/%zz`,
];

/** Options objects that are wrong, each with the password as a field. */
const BAD_OPTIONS = [
  { username: "app", password: SECRET, port: 99999 },
  { username: "app", password: SECRET, ssl: "bogus" },
  { username: "app", password: SECRET, pooler: "session" },
  { username: "app", password: SECRET, host: `postgres://app:${ENCODED}@a,b` },
  { username: "app", pass: SECRET, port: "x" },
] as unknown as Record<string, unknown>[];

describe("credentials in error messages", () => {
  for (
    const [name, create] of [
      ["postgresDriver", postgresDriver],
      ["pgDriver", pgDriver],
    ] as const
  ) {
    it(`${name} shows no password for a wrong URL or options object`, () => {
      for (const url of BAD_URLS) refusal(() => create(url));
      for (const options of BAD_OPTIONS) refusal(() => create(options as never));
      for (const options of BAD_OPTIONS) {
        refusal(() => create("postgres://app@host/app", options as never));
      }
    });
  }

  it(
    `bunDriver shows no password for a wrong URL or options object${
      BUN_SKIP ? ` (skipped: ${BUN_SKIP})` : ""
    }`,
    { skip: BUN_SKIP },
    () => {
      for (const url of BAD_URLS) refusal(() => bunDriver(url));
      for (const options of BAD_OPTIONS) refusal(() => bunDriver(options as never));
    },
  );

  it("new ConnectionPool shows no password for a URL given as options or as driver", () => {
    const url = `postgres://app:${SECRET}@host/app`;
    const asOptions = refusal(() => new ConnectionPool(url as never));
    assert.equal(
      asOptions.message,
      'Cannot create pool: options must be an object, got "postgres://***@host/app"',
    );
    refusal(() => new ConnectionPool({ driver: url as never }));
    refusal(() => new ConnectionPool({ driver: `postgres://app:${ENCODED}@h/db` as never }));
  });

  it("new ClusterPool shows no password for a URL given as primary or replica", () => {
    const url = `postgres://app:${SECRET}@host/app`;
    refusal(() => new ClusterPool({ primary: url as never, replicas: [] }));
    const primary = new ConnectionPool({ driver: postgresDriver("postgres://app@h/db") });
    try {
      refusal(() => new ClusterPool({ primary, replicas: [url as never] }));
    } finally {
      primary.close();
    }
  });

  it("redactError hides the password, URLs and password= values in every field and cause", () => {
    const cause = Object.assign(new Error(`could not connect: password=${SECRET} host=h`), {
      code: "08001",
    });
    const error = Object.assign(
      new Error(`database "postgres://app:${SECRET}@h/db" does not exist`, { cause }),
      { code: "3D000", detail: `tried ${ENCODED}`, hint: `password='a b\\'c' then ${SECRET}` },
    );
    assert.equal(redactError(error, secretsOf(SECRET)), error);
    assert.equal(error.message, 'database "postgres://***@h/db" does not exist');
    assert.equal(error.code, "3D000");
    assert.equal(error.detail, "tried ***");
    assert.equal(error.hint, "password=*** then ***");
    assert.equal(cause.message, "could not connect: password=*** host=h");
    refusal(() => {
      throw error;
    });
  });

  it("does not search for a password too short to hide without garbling the message", () => {
    assert.deepEqual(secretsOf("abc"), []);
    assert.deepEqual(secretsOf(() => "x"), []);
    assert.deepEqual(secretsOf("a b+c/d"), ["a b+c/d", "a%20b%2Bc%2Fd"]);
    assert.equal(hideCredentials("no credentials at all"), "no credentials at all");
  });
});
