/** The length of one slot of the utilization window, in milliseconds. */
export const UTILIZATION_SLOT_MS = 1_000;
/** How many slots the window holds: the last 10 s, in 1 s steps. */
export const UTILIZATION_SLOTS = 10;

/**
 * Time-weighted utilization: the share of open-connection time spent in use,
 * over a sliding window of {@linkcode UTILIZATION_SLOTS} slots. The pool
 * reports every change of its counts; the window integrates them over time.
 */
export class UtilizationWindow {
  /** In-use connection-milliseconds per slot. */
  readonly #used = new Float64Array(UTILIZATION_SLOTS);
  /** Open connection-milliseconds per slot. */
  readonly #open = new Float64Array(UTILIZATION_SLOTS);
  #slot = 0;
  #slotEnd: number;
  #lastChange: number;
  #inUseCount = 0;
  #openCount = 0;

  constructor(now: number) {
    this.#lastChange = now;
    this.#slotEnd = now + UTILIZATION_SLOT_MS;
  }

  /** Records that from `now` on, `inUse` of `open` connections are in use. */
  update(now: number, inUse: number, open: number): void {
    this.#advance(now);
    this.#inUseCount = inUse;
    this.#openCount = open;
  }

  /** The utilization over the window up to `now`, from 0 to 100. */
  percent(now: number): number {
    this.#advance(now);
    let used = 0;
    let open = 0;
    for (let i = 0; i < UTILIZATION_SLOTS; i++) {
      used += this.#used[i];
      open += this.#open[i];
    }
    return open === 0 ? 0 : (used / open) * 100;
  }

  #advance(now: number): void {
    if (now - this.#lastChange >= UTILIZATION_SLOT_MS * UTILIZATION_SLOTS) {
      // The counts held steady over the whole window: every full slot is
      // alike, and the loop below need not walk through the gap.
      const slotsEnded = Math.floor((now - this.#slotEnd) / UTILIZATION_SLOT_MS) + 1;
      this.#slotEnd += slotsEnded * UTILIZATION_SLOT_MS;
      this.#used.fill(UTILIZATION_SLOT_MS * this.#inUseCount);
      this.#open.fill(UTILIZATION_SLOT_MS * this.#openCount);
      this.#used[this.#slot] = 0;
      this.#open[this.#slot] = 0;
      this.#lastChange = this.#slotEnd - UTILIZATION_SLOT_MS;
    }
    while (now >= this.#slotEnd) {
      this.#accumulate(this.#slotEnd);
      this.#slot = (this.#slot + 1) % UTILIZATION_SLOTS;
      this.#used[this.#slot] = 0;
      this.#open[this.#slot] = 0;
      this.#slotEnd += UTILIZATION_SLOT_MS;
    }
    this.#accumulate(now);
  }

  #accumulate(until: number): void {
    const elapsed = until - this.#lastChange;
    this.#used[this.#slot] += elapsed * this.#inUseCount;
    this.#open[this.#slot] += elapsed * this.#openCount;
    this.#lastChange = until;
  }
}
