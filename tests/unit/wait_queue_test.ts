import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Waiter, WaitQueue } from "../../src/_core/wait_queue.ts";

function waiters(count: number): Waiter[] {
  return Array.from({ length: count }, (_, i) => new Waiter(() => {}, () => {}, i, 0));
}

function drain(queue: WaitQueue): number[] {
  const order: number[] = [];
  for (let waiter; (waiter = queue.shift()) !== undefined && order.length < 100;) {
    order.push(waiter.since);
  }
  return order;
}

describe("WaitQueue", () => {
  it("gives waiters back in the order they came", () => {
    const queue = new WaitQueue();
    for (const waiter of waiters(5)) queue.push(waiter);
    assert.equal(queue.size, 5);
    assert.deepEqual(drain(queue), [0, 1, 2, 3, 4]);
    assert.equal(queue.size, 0);
    assert.equal(queue.shift(), undefined);
  });

  it("removes a waiter from the head, the middle or the tail", () => {
    const queue = new WaitQueue();
    const all = waiters(5);
    for (const waiter of all) queue.push(waiter);
    queue.remove(all[2]);
    queue.remove(all[0]);
    queue.remove(all[4]);
    assert.equal(queue.size, 2);
    assert.deepEqual(drain(queue), [1, 3]);
  });

  it("marks a waiter queued while it is in the queue", () => {
    const queue = new WaitQueue();
    const [a, b] = waiters(2);
    assert.equal(a.queued, false);
    queue.push(a);
    queue.push(b);
    assert.equal(a.queued, true);
    queue.remove(a);
    assert.equal(a.queued, false);
    assert.equal(queue.shift(), b);
    assert.equal(b.queued, false);
  });

  it("ignores removing a waiter twice, or one never queued", () => {
    const queue = new WaitQueue();
    const [a, b, stranger] = waiters(3);
    queue.push(a);
    queue.push(b);
    queue.remove(a);
    queue.remove(a);
    queue.remove(stranger);
    assert.equal(queue.size, 1);
    assert.deepEqual(drain(queue), [1]);
  });

  it("takes a removed waiter back at the tail", () => {
    const queue = new WaitQueue();
    const [a, b, c] = waiters(3);
    queue.push(a);
    queue.push(b);
    queue.remove(a);
    queue.push(c);
    queue.push(a);
    assert.deepEqual(drain(queue), [1, 2, 0]);
  });

  it("works again after being emptied", () => {
    const queue = new WaitQueue();
    const [a, b] = waiters(2);
    queue.push(a);
    queue.remove(a);
    queue.push(b);
    assert.deepEqual(drain(queue), [1]);
  });
});
