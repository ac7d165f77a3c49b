/**
 * A model-based test of the pool: random commands run against a pool on the
 * fake driver and the manual clock, and after each one the pool is checked
 * against what a caller can see (loans, pending calls, fake connections) and
 * against the pool's own invariants. This module runs the commands;
 * `_model_commands.ts` draws them, `_model_state.ts` holds the pool and the
 * model, and `_model_checks.ts` checks one against the other.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { PoolMetrics } from "../../src/pool_metrics.ts";
import { PoolClosedError, PoolExhaustedError } from "../../src/errors.ts";
import { flush } from "../support/manual_clock.ts";
import type { Command, ModelConfig } from "./_model_commands.ts";
import { ModelState, RETRY_MAX_MS } from "./_model_state.ts";
import { checkModel } from "./_model_checks.ts";

/**
 * What every ModelRun so far did, to report, and to show the paths ran: runs and steps;
 * statements pipelined, leaks reported, checks timed out, sessions cleared, transactions.
 */
export const stats = {
  runs: 0,
  steps: 0,
  pipelined: 0,
  leaks: 0,
  checkTimeouts: 0,
  discards: 0,
  transactions: 0,
};

/** One pool under test, the model of what its callers hold, and the checks. */
export class ModelRun extends ModelState {
  constructor(config: ModelConfig) {
    super(config);
    stats.runs++;
  }

  /** Runs one command, lets every reaction settle, and checks the pool. */
  async run(command: Command): Promise<void> {
    stats.steps++;
    const { pool, driver, clock } = this;
    const sent = driver.connections.map((fake) => fake.queries.length + fake.pipelined.length);
    switch (command.kind) {
      case "acquire": {
        const m = pool.getMetrics();
        const canServe = this.canServe(m);
        const call = this.acquire(command.timeout, command.signal, m);
        await flush();
        if (call.exhausted) assert.ok(call.reason instanceof PoolExhaustedError, "refused at once");
        if (canServe) {
          assert.equal(
            call.status,
            "fulfilled",
            `not served at once from a free slot: ${call.reason}`,
          );
        }
        if (this.closeStart !== undefined) assert.ok(call.reason instanceof PoolClosedError);
        break;
      }
      case "release":
      case "releaseTwice": {
        const loan = choose(this.liveLoans(), command.pick);
        if (loan === undefined) break;
        const discards = loan.fake.discards;
        const reusable = !loan.fake.closed && this.closeStart === undefined &&
          loan.fake.id > this.resetMark;
        this.release(loan);
        if (command.kind === "releaseTwice") {
          const before = pool.getMetrics();
          loan.handle.release();
          assert.deepEqual(pool.getMetrics(), before, "a second release does nothing");
        }
        await flush();
        // At least: whoever gets the connection next may release it within the flush too.
        const cleared = loan.fake.discards - discards;
        if (this.config.resetSession && reusable) {
          assert.ok(cleared >= 1, "resetSession clears the session of every release");
        } else assert.equal(cleared, 0, "a session is cleared only with resetSession, for reuse");
        break;
      }
      case "dirtyRelease": {
        const loan = choose(this.liveLoans(), command.pick);
        if (loan === undefined) break;
        loan.handle.execute("begin").catch(() => {});
        // With resetSession every release clears the session (discard), else a dirty one's
        // transaction is rolled back (reset).
        const { resetSession } = this.config;
        if (command.resetFails) {
          if (resetSession) loan.fake.discardError = this.resetFailure;
          else loan.fake.resetError = this.resetFailure;
        }
        const rollsBack = (resetSession || loan.fake.dirty) && !loan.fake.closed;
        const resetsFirst = rollsBack && this.closeStart === undefined &&
          loan.fake.id > this.resetMark;
        const resets = resetSession ? loan.fake.discards : loan.fake.resets;
        this.release(loan);
        await flush();
        const after = resetSession ? loan.fake.discards : loan.fake.resets;
        if (resetSession && resetsFirst && !command.resetFails) {
          // The next holder's release within the flush clears it again.
          assert.ok(after - resets >= 1, "cleared when reusable");
        } else assert.equal(after - resets, resetsFirst ? 1 : 0, "rolled back when reusable");
        if (resetsFirst && command.resetFails) {
          assert.ok(loan.fake.closed, "a connection that failed its rollback is closed");
        }
        break;
      }
      case "abort": {
        const call = choose(this.pending().filter((c) => c.controller), command.pick);
        if (call === undefined) break;
        call.abortReason = new Error(`Aborted call ${call.index} (model)`);
        call.controller!.abort(call.abortReason);
        await flush();
        assert.equal(call.reason, call.abortReason, "an aborted wait rejects with the reason");
        break;
      }
      case "advance":
        await clock.advanceAsync(command.ms);
        break;
      case "failConnects":
        if (command.permanent) driver.permanentErrors.add(this.badPassword);
        driver.failConnects(command.count, command.permanent ? this.badPassword : this.refused);
        this.connectsFailed = true;
        await flush();
        break;
      case "hangConnects":
        if (this.gate === undefined) {
          this.gate = Promise.withResolvers<void>();
          driver.connectGate = this.gate.promise;
          this.gateUsed = true;
        }
        break;
      case "openGate":
        this.openGate();
        await flush();
        break;
      case "die": {
        const candidates = command.idle
          ? this.idleFakes()
          : [...this.liveLoans().map((loan) => loan.fake), ...this.sharedFakes()]
            .filter((fake) => !fake.closed);
        choose(candidates, command.pick)?.die(this.death);
        await flush();
        break;
      }
      case "pingFails": {
        const fake = choose(this.driver.connections.filter((f) => !f.closed), command.pick);
        if (fake !== undefined) fake.pingError = this.pingFailure;
        break;
      }
      case "pingHangs": {
        // Without checkTimeout a ping that never answers holds its connection until close().
        if (this.config.checkTimeout === 0) break;
        const fake = choose(this.driver.connections.filter((f) => !f.closed), command.pick);
        if (fake === undefined) break;
        fake.hangPings = true;
        this.pingsHung = true;
        break;
      }
      case "execute": {
        const exec = this.execute(command.timeout);
        await flush();
        if (this.closeStart !== undefined) {
          assert.ok(exec.reason instanceof PoolClosedError, "execute after close() fails");
        }
        break;
      }
      case "answer": {
        const fake = choose(this.driver.connections.filter((f) => f.inFlight > 0), command.pick);
        if (fake === undefined) break;
        fake.answer(command.count);
        this.lastUsed.set(fake, clock.now());
        await flush();
        break;
      }
      case "transaction": {
        // Only when a connection is free at once: the model does not track a waiting one.
        if (!this.canServe(pool.getMetrics())) break;
        const thrown = new Error("Thrown in a transaction (model)");
        let outcome: unknown = "pending";
        pool.transaction(async (tx) => {
          await tx.execute("select 1");
          if (command.fails) throw thrown;
          return "committed";
        }).then((value) => (outcome = value), (error) => (outcome = error));
        await flush();
        this.transactions++;
        assert.equal(outcome, command.fails ? thrown : "committed", "the transaction ended");
        break;
      }
      case "reset":
        if (this.closeStart === undefined) {
          this.resets++;
          this.resetMark = driver.connections.length;
        }
        pool.reset();
        await flush();
        break;
      case "close": {
        const waiting = this.pending();
        this.close();
        await clock.advanceAsync(command.grace);
        for (const call of waiting) {
          assert.ok(call.reason instanceof PoolClosedError, "close() fails every waiter");
        }
        break;
      }
    }
    // A statement run outside a loan (an execute, a transaction) counts as use of its connection.
    driver.connections.forEach((fake, i) => {
      if (fake.queries.length + fake.pipelined.length !== sent[i]) {
        this.lastUsed.set(fake, clock.now());
      }
    });
    this.check();
  }

  /**
   * Opens the gate, then releases every loan and runs the clock past every
   * timeout until no call is pending; then closes the pool and checks that
   * nothing is left: no connection, no timer, no connect, no pending promise.
   */
  async finish(): Promise<void> {
    const { pool, driver, clock, config } = this;
    this.openGate();
    await flush();
    this.check();
    const longest = Math.max(
      config.acquireTimeout,
      config.connectTimeout,
      config.checkTimeout,
      RETRY_MAX_MS,
    ) + 1;
    for (let round = 0; round < 50; round++) {
      for (const loan of this.liveLoans()) this.release(loan);
      for (const fake of driver.connections.filter((f) => f.inFlight > 0)) {
        fake.answer(fake.inFlight);
        this.lastUsed.set(fake, clock.now());
      }
      await clock.advanceAsync(longest);
      this.check();
      const running = this.execs.some((exec) => exec.status === "pending");
      if (this.pending().length === 0 && this.liveLoans().length === 0 && !running) break;
    }
    assert.deepEqual(this.pending().map((call) => call.index), [], "every call settled");
    assert.deepEqual(
      this.execs.filter((exec) => exec.status === "pending").map((exec) => exec.index),
      [],
      "every execute settled",
    );
    assert.equal(this.liveLoans().length, 0, "every loan released");
    if (this.closed === undefined) this.close();
    await clock.advanceAsync(config.closeTimeout + 1);
    this.check();
    assert.equal(this.closeStatus, "fulfilled", "close() resolved");
    const m = pool.getMetrics();
    stats.pipelined += m.pipelinedStatements;
    stats.leaks += this.errors.filter(([, event]) => event === "leak").length;
    stats.checkTimeouts +=
      this.errors.filter(([e]) => (e as { code?: string }).code === "CHECK_TIMEOUT").length;
    stats.discards += driver.connections.reduce((sum, fake) => sum + fake.discards, 0);
    stats.transactions += this.transactions;
    assert.deepEqual(
      [m.openConnections, m.inUse, m.idle, m.connecting, m.checking, m.waiting],
      [0, 0, 0, 0, 0, 0],
      "nothing open after close",
    );
    assert.deepEqual(driver.connections.filter((fake) => !fake.closed).map((f) => f.id), []);
    assert.equal(clock.pendingTimers, 0, "no timer left after close");
    await assert.rejects(pool.getConnection(), PoolClosedError);
  }

  /** Whether the pool must serve a caller at once: a connection is free, or may open now. */
  canServe(m: PoolMetrics): boolean {
    return this.closeStart === undefined && this.gate === undefined &&
      this.driver.connectErrors.length === 0 && !this.mayBackOff() &&
      // A connection whose pings hang may be the one validated for the caller.
      !this.driver.connections.some((fake) => fake.hangPings && !fake.closed) &&
      (m.idle > 0 || m.openConnections < m.maxOpenConnections);
  }

  /** Checks the pool against the model and its invariants, after reactions settled. */
  check(): void {
    // The pool takes a connection back when its last statement ends, timed out or answered.
    this.locateExecs();
    for (const exec of this.execs) {
      if (exec.fake === undefined || exec.settledAt === undefined) continue;
      const last = this.lastUsed.get(exec.fake) ?? -Infinity;
      if (exec.settledAt > last) this.lastUsed.set(exec.fake, exec.settledAt);
    }
    checkModel(this);
  }
}

function choose<T>(candidates: T[], pick: number): T | undefined {
  return candidates.length === 0 ? undefined : candidates[pick % candidates.length];
}
