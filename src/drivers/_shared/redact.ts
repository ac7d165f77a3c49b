/**
 * Keeps a driver's password out of the errors it gives: a client or a
 * server may repeat a connection string, or the password itself, in an
 * error's message or fields.
 *
 * @module
 */

import { hideCredentials } from "../../_core/credentials.ts";

/** The error fields that hold text a server or client wrote. */
const TEXT_FIELDS = ["message", "stack", "detail", "hint", "where", "internalQuery"] as const;
/** How many causes deep an error is searched. */
const MAX_DEPTH = 4;
/**
 * Shorter passwords are not searched for: hiding every occurrence of a few
 * letters would garble the message more than it protects.
 */
const MIN_SECRET_LENGTH = 4;

/**
 * The forms of `password` an error may show: as given, and percent-encoded
 * as in a URL. None for a password given as a function, or a short one.
 */
export function secretsOf(password: unknown): string[] {
  if (typeof password !== "string" || password.length < MIN_SECRET_LENGTH) return [];
  const encoded = encodeURIComponent(password);
  return encoded === password ? [password] : [password, encoded];
}

/**
 * `error` with URL credentials, `password=` values and each of `secrets`
 * replaced by `***` in its text fields and its causes', changed in place
 * so that its class and code stay. A frozen error is returned unchanged.
 */
export function redactError<E>(error: E, secrets: readonly string[]): E {
  let current: unknown = error;
  for (let depth = 0; depth < MAX_DEPTH && typeof current === "object" && current; depth++) {
    const fields = current as Record<string, unknown>;
    for (const field of TEXT_FIELDS) {
      const text = fields[field];
      if (typeof text !== "string") continue;
      let hidden = hideCredentials(text);
      for (const secret of secrets) hidden = hidden.replaceAll(secret, "***");
      if (hidden === text) continue;
      try {
        Object.defineProperty(current, field, {
          value: hidden,
          writable: true,
          configurable: true,
          enumerable: Object.prototype.propertyIsEnumerable.call(current, field),
        });
      } catch {
        // A frozen error: nothing can be changed.
      }
    }
    current = fields.cause;
  }
  return error;
}

/**
 * The passwords a driver's arguments hold (`password`, or postgres.js's
 * `pass`), in every form {@linkcode secretsOf} gives; a URL's is hidden as
 * URL credentials.
 */
export function secretsIn(...args: unknown[]): string[] {
  return args.flatMap((arg) => {
    if (typeof arg !== "object" || arg === null) return [];
    const { password, pass } = arg as { password?: unknown; pass?: unknown };
    return [...secretsOf(password), ...secretsOf(pass)];
  });
}
