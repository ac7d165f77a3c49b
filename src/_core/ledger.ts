import type { EntryState, PoolEntry } from "./entry.ts";
import { UtilizationWindow } from "./utilization.ts";

/**
 * Which connection is in which state, and how many are in each: the one
 * place a connection's state changes. {@linkcode EntryLedger.move} updates
 * the state, the idle set, every count and the utilization window in one
 * synchronous step, so no reader ever sees them disagree.
 */
export class EntryLedger {
  /** Every established connection that is not closed. */
  readonly all = new Set<PoolEntry>();
  /** Idle connections; the most recently released is last and lent first. */
  readonly idle: PoolEntry[] = [];
  inUse = 0;
  checking = 0;
  validating = 0;
  readonly utilization: UtilizationWindow;
  /** Called once nothing is in use, checking or validating; set while the pool closes. */
  onDrained: (() => void) | undefined = undefined;

  constructor(now: number) {
    this.utilization = new UtilizationWindow(now);
  }

  /** Connections busy with a caller or with the pool's own round trip. */
  get busy(): number {
    return this.inUse + this.checking + this.validating;
  }

  /** Takes in a connection just opened, in state `new`; the caller moves it on at once. */
  add(entry: PoolEntry): void {
    this.all.add(entry);
  }

  /** Moves `entry` to state `to` at time `now`, with every count. */
  move(entry: PoolEntry, to: EntryState, now: number): void {
    switch (entry.state) {
      case "idle": {
        const idle = this.idle;
        // Lending takes the last one: the common case costs a pop.
        if (idle[idle.length - 1] === entry) idle.pop();
        else idle.splice(idle.indexOf(entry), 1);
        break;
      }
      case "inUse":
        this.inUse--;
        break;
      case "checking":
        this.checking--;
        break;
      case "validating":
        this.validating--;
        break;
      case "closed":
        // Unreachable: a closed entry is out of every set and never moves again.
        throw new Error(`Bug: a closed connection moved to ${to}`);
    }
    entry.state = to;
    switch (to) {
      case "idle":
        this.idle.push(entry);
        break;
      case "inUse":
        this.inUse++;
        break;
      case "checking":
        this.checking++;
        break;
      case "validating":
        this.validating++;
        break;
      case "closed":
        this.all.delete(entry);
        break;
    }
    this.utilization.update(now, this.inUse, this.all.size);
    if (this.onDrained !== undefined && this.busy === 0) this.onDrained();
  }
}
