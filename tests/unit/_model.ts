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
import { PoolClosedError, PoolExhaustedError } from "../../src/errors.ts";
import { flush } from "../support/manual_clock.ts";
import type { Command, ModelConfig } from "./_model_commands.ts";
import { ModelState, RETRY_MAX_MS } from "./_model_state.ts";
import { checkModel } from "./_model_checks.ts";

/** Steps run by every ModelRun so far, to report. */
export const stats = { runs: 0, steps: 0 };

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
    switch (command.kind) {
      case "acquire": {
        const m = pool.getMetrics();
        const canServe = this.closeStart === undefined && this.gate === undefined &&
          driver.connectErrors.length === 0 && !this.mayBackOff() &&
          (m.idle > 0 || m.openConnections < m.maxOpenConnections);
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
        this.release(loan);
        if (command.kind === "releaseTwice") {
          const before = pool.getMetrics();
          loan.handle.release();
          assert.deepEqual(pool.getMetrics(), before, "a second release does nothing");
        }
        await flush();
        break;
      }
      case "dirtyRelease": {
        const loan = choose(this.liveLoans(), command.pick);
        if (loan === undefined) break;
        loan.handle.execute("begin").catch(() => {});
        if (command.resetFails) loan.fake.resetError = this.resetFailure;
        const rollsBack = loan.fake.dirty && !loan.fake.closed;
        const resetsFirst = rollsBack && this.closeStart === undefined &&
          loan.fake.id > this.resetMark;
        const resets = loan.fake.resets;
        this.release(loan);
        await flush();
        assert.equal(loan.fake.resets - resets, resetsFirst ? 1 : 0, "rolled back when reusable");
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
          : this.liveLoans().map((loan) => loan.fake).filter((fake) => !fake.closed);
        choose(candidates, command.pick)?.die(this.death);
        await flush();
        break;
      }
      case "pingFails": {
        const fake = choose(this.driver.connections.filter((f) => !f.closed), command.pick);
        if (fake !== undefined) fake.pingError = this.pingFailure;
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
    const longest = Math.max(config.acquireTimeout, config.connectTimeout, RETRY_MAX_MS) + 1;
    for (let round = 0; round < 50; round++) {
      for (const loan of this.liveLoans()) this.release(loan);
      await clock.advanceAsync(longest);
      this.check();
      if (this.pending().length === 0 && this.liveLoans().length === 0) break;
    }
    assert.deepEqual(this.pending().map((call) => call.index), [], "every call settled");
    assert.equal(this.liveLoans().length, 0, "every loan released");
    if (this.closed === undefined) this.close();
    await clock.advanceAsync(config.closeTimeout + 1);
    this.check();
    assert.equal(this.closeStatus, "fulfilled", "close() resolved");
    const m = pool.getMetrics();
    assert.deepEqual(
      [m.openConnections, m.inUse, m.idle, m.connecting, m.checking, m.waiting],
      [0, 0, 0, 0, 0, 0],
      "nothing open after close",
    );
    assert.deepEqual(driver.connections.filter((fake) => !fake.closed).map((f) => f.id), []);
    assert.equal(clock.pendingTimers, 0, "no timer left after close");
    await assert.rejects(pool.getConnection(), PoolClosedError);
  }

  /** Checks the pool against the model and its invariants, after reactions settled. */
  check(): void {
    checkModel(this);
  }
}

function choose<T>(candidates: T[], pick: number): T | undefined {
  return candidates.length === 0 ? undefined : candidates[pick % candidates.length];
}
