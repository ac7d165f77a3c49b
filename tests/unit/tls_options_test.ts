import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolveTls } from "../../src/drivers/_shared/tls.ts";
import { canRetryConnect, tlsNotAvailable } from "../../src/drivers/_shared/sqlstate.ts";
import { resolveOptions as resolvePostgres } from "../../src/drivers/postgres/_resolve_options.ts";
import { resolveOptions as resolveBun } from "../../src/drivers/bun/_resolve_options.ts";
import { resolveOptions as resolvePg } from "../../src/drivers/pg/_resolve_options.ts";
import { normalizeError } from "../../src/drivers/bun/_errors.ts";

const CA_FILE = fileURLToPath(new URL("../fixtures/tls/ca.crt", import.meta.url));
const CA = readFileSync(CA_FILE, "utf8");
const MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;

/** Each driver's TLS setting for a URL with `query`. */
function tlsOf(query: string) {
  const url = `postgres://app@h/db?${query}`;
  return {
    postgres: resolvePostgres(url, undefined).options.ssl as unknown,
    bun: resolveBun(url, undefined).bun.tls,
    pg: resolvePg(url, undefined).ssl as unknown,
  };
}

/** The CA and whether the host name is checked, as `tls.connect` options say them. */
function checks(options: unknown): { ca: unknown; hostName: boolean } {
  assert.equal(typeof options, "object", String(options));
  const { ca, checkServerIdentity, rejectUnauthorized } = options as Record<string, unknown>;
  assert.notEqual(rejectUnauthorized, false, "the chain is checked");
  return { ca, hostName: checkServerIdentity === undefined };
}

describe("resolveTls", () => {
  it("reads the mode and no CA without sslrootcert", () => {
    for (const mode of MODES) {
      assert.deepEqual(resolveTls(mode, undefined, "x"), { mode, ca: undefined });
    }
    assert.deepEqual(resolveTls(undefined, undefined, "x"), { mode: "disable", ca: undefined });
    assert.deepEqual(resolveTls({ ca: "pem" }, undefined, "x"), { custom: { ca: "pem" } });
  });

  it("reads the sslrootcert file, and makes require check the chain as libpq does", () => {
    assert.deepEqual(resolveTls("verify-full", CA_FILE, "x"), { mode: "verify-full", ca: CA });
    assert.deepEqual(resolveTls("require", CA_FILE, "x"), { mode: "verify-ca", ca: CA });
    assert.deepEqual(resolveTls("prefer", CA_FILE, "x"), { mode: "prefer", ca: CA });
  });

  it("refuses a file it cannot read, naming it, and sslrootcert with TLS options", () => {
    assert.throws(
      () => resolveTls("verify-full", "/nonexistent/ca.pem", "postgres"),
      (error: Error) =>
        error instanceof TypeError &&
        error.message ===
          "Cannot create the postgres driver: sslrootcert (/nonexistent/ca.pem) cannot be read (ENOENT)",
    );
    assert.throws(
      () => resolveTls({ ca: "pem" }, CA_FILE, "pg"),
      /sslrootcert goes with an sslmode/,
    );
  });
});

describe("the drivers' TLS options", () => {
  it("check the chain against the sslrootcert CA, and the host name only for verify-full", () => {
    for (
      const [driver, ssl] of Object.entries(tlsOf(`sslmode=verify-full&sslrootcert=${CA_FILE}`))
    ) {
      assert.deepEqual(checks(ssl), { ca: CA, hostName: true }, driver);
    }
    for (
      const query of [
        `sslmode=verify-ca&sslrootcert=${CA_FILE}`,
        `sslmode=require&sslrootcert=${CA_FILE}`,
      ]
    ) {
      for (const [driver, ssl] of Object.entries(tlsOf(query))) {
        assert.deepEqual(checks(ssl), { ca: CA, hostName: false }, `${driver} ${query}`);
      }
    }
  });

  it("take sslrootcert as an option as well as in the URL", () => {
    const options = { username: "app", ssl: "verify-full" as const, sslrootcert: CA_FILE };
    assert.equal(checks(resolvePostgres(options, undefined).options.ssl).ca, CA);
    assert.equal(checks(resolveBun(options, undefined).bun.tls).ca, CA);
    assert.equal(checks(resolvePg(options, undefined).ssl).ca, CA);
  });

  it("leave TLS off or opportunistic with a CA file when the mode says so", () => {
    assert.deepEqual(tlsOf(`sslmode=disable&sslrootcert=${CA_FILE}`), {
      postgres: false,
      bun: "disable",
      pg: false,
    });
    assert.deepEqual(tlsOf(`sslmode=prefer&sslrootcert=${CA_FILE}`), {
      postgres: "prefer",
      bun: "prefer",
      pg: { rejectUnauthorized: false },
    });
    assert.equal(resolvePg(`postgres://app@h/db?sslmode=prefer`, undefined).plainIfRefused, true);
    assert.equal(resolvePg(`postgres://app@h/db?sslmode=require`, undefined).plainIfRefused, false);
  });
});

describe("canRetryConnect and TLS", () => {
  it("gives up at once on a certificate that fails the checks", () => {
    for (
      const code of [
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        "SELF_SIGNED_CERT_IN_CHAIN",
        "DEPTH_ZERO_SELF_SIGNED_CERT",
        "CERT_HAS_EXPIRED",
        "ERR_TLS_CERT_ALTNAME_INVALID",
      ]
    ) {
      assert.equal(canRetryConnect(Object.assign(new Error("x"), { code })), false, code);
    }
  });

  it("gives up at once on a server without the TLS required, under every driver", () => {
    assert.equal(canRetryConnect(tlsNotAvailable(new Error("no"))), false);
    const bun = normalizeError(
      Object.assign(new Error("Server does not support SSL"), {
        code: "ERR_POSTGRES_TLS_NOT_AVAILABLE",
      }),
    );
    assert.equal(bun.code, "TLS_NOT_AVAILABLE");
    assert.equal(canRetryConnect(bun), false);
  });

  it("still retries a reset or refused socket", () => {
    for (const code of ["ECONNRESET", "ECONNREFUSED", "CONNECTION_CLOSED"]) {
      assert.equal(canRetryConnect(Object.assign(new Error("x"), { code })), true, code);
    }
  });
});
