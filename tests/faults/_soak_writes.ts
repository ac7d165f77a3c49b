/**
 * The soak's writes, and the check of the data they left: every write the
 * pool acknowledged as committed is in the table, no write that was rolled
 * back (or failed before its COMMIT) is, and each counter row counts exactly
 * its log rows, which the same transactions wrote.
 *
 * @module
 */

import type { Admin } from "../support/postgres.ts";

/** The tables the writes go to: a counter per row, and one log row per write. */
export const SCHEMA = [
  "drop table if exists soak_counters, soak_log",
  "create table soak_counters (id int primary key, n int not null)",
  "create table soak_log (id int primary key, counter int not null)",
];

/**
 * What became of one write: `committed` (acknowledged), `absent` (certainly
 * not committed), `unknown` (its COMMIT was sent and no answer came back).
 */
export type Outcome = "committed" | "absent" | "unknown";

/** Every write the soak made, by its id (the id of its soak_log row). */
export class Writes {
  readonly #outcomes = new Map<number, Outcome | "pending">();

  /** A new write: its id, pending until {@linkcode Writes.settle}. */
  start(): number {
    const id = this.#outcomes.size + 1;
    this.#outcomes.set(id, "pending");
    return id;
  }

  settle(id: number, outcome: Outcome): void {
    this.#outcomes.set(id, outcome);
  }

  /** How many writes ended each way; a write still pending counts as unknown. */
  counts(): Record<Outcome, number> {
    const counts = { committed: 0, absent: 0, unknown: 0 };
    for (const outcome of this.#outcomes.values()) {
      counts[outcome === "pending" ? "unknown" : outcome]++;
    }
    return counts;
  }

  /** What is wrong with the tables, at most a few lines of it; empty when nothing. */
  async problems(admin: Admin): Promise<string[]> {
    const problems: string[] = [];
    const logged = new Set(
      (await admin.query<{ id: number }>("select id from soak_log")).map((row) => row.id),
    );
    for (const [id, outcome] of this.#outcomes) {
      if (outcome === "committed" && !logged.has(id)) {
        problems.push(`write ${id} was acknowledged but is not in the table`);
      } else if (outcome === "absent" && logged.has(id)) {
        problems.push(`write ${id} was rolled back or failed before COMMIT, yet is in the table`);
      }
    }
    for (const id of logged) {
      if (!this.#outcomes.has(id)) problems.push(`log row ${id} was never written by the soak`);
    }
    const torn = await admin.query<{ id: number; n: number; logged: number }>(
      `select c.id, c.n, count(l.id)::int as logged from soak_counters c
         left join soak_log l on l.counter = c.id group by c.id, c.n having c.n <> count(l.id)`,
    );
    for (const { id, n, logged } of torn) {
      problems.push(`counter ${id} is ${n} but ${logged} log rows name it: a torn transaction`);
    }
    return problems.slice(0, 10);
  }
}
