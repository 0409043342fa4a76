/**
 * The event router's bound on deliveries at once (local/event-router.ts, maxConcurrentDeliveries):
 * the rest wait their turn in the order they were published, a failed delivery's retry waits
 * anew, and idle() still waits for every one.
 */
import assert from "node:assert/strict";
import { type EventEnvelope, EventRouter } from "../local/event-router";

const event = (id: number): EventEnvelope => ({
  version: "0",
  id: `event-${id}`,
  "detail-type": "Thing Happened",
  source: "test.source",
  account: "000000000000",
  time: "2026-01-02T03:04:05Z",
  region: "us-east-1",
  resources: [],
  detail: { n: id },
});

/** A target that holds each delivery until the test lets it go, recording what runs when. */
function heldTarget(router: EventRouter, failFirstOf?: string) {
  const running = new Set<string>();
  const started: string[] = [];
  const waiters = new Map<string, () => void>();
  const whenStarted: (() => void)[] = [];
  let failed = false;
  router.addRule({
    name: "held",
    pattern: { source: ["test.source"] },
    target: async (e) => {
      if (e.id === failFirstOf && !failed) {
        failed = true;
        throw new Error(`${e.id} failed once`);
      }
      running.add(e.id);
      started.push(e.id);
      whenStarted.splice(0).forEach((resolve) => resolve());
      await new Promise<void>((resolve) => waiters.set(e.id, resolve));
      running.delete(e.id);
    },
  });
  /** Resolves once `count` deliveries have started. */
  const startedCount = async (count: number) => {
    while (started.length < count) await new Promise<void>((resolve) => whenStarted.push(resolve));
  };
  const finish = (id: string) => {
    const resolve = waiters.get(id);
    assert.ok(resolve, `${id} is running`);
    waiters.delete(id);
    resolve();
  };
  return { running, started, startedCount, finish };
}

describe("EventRouter's bound on deliveries at once", () => {
  it("runs at most maxConcurrentDeliveries deliveries at once and starts the rest in the order they were published", async () => {
    const router = new EventRouter({ maxConcurrentDeliveries: 2 });
    const target = heldTarget(router);
    for (let i = 1; i <= 5; i += 1) router.publish(event(i));
    await target.startedCount(2);
    assert.deepEqual([...target.running], ["event-1", "event-2"]);
    let idle = false;
    const idled = router.idle().then(() => (idle = true));
    target.finish("event-2");
    await target.startedCount(3);
    assert.deepEqual([...target.running], ["event-1", "event-3"]);
    for (const id of ["event-1", "event-3"]) target.finish(id);
    await target.startedCount(5);
    assert.deepEqual(target.started, ["event-1", "event-2", "event-3", "event-4", "event-5"]);
    assert.equal(target.running.size, 2);
    assert.equal(idle, false, "idle waits for the deliveries still running");
    for (const id of ["event-4", "event-5"]) target.finish(id);
    await idled;
    assert.equal(target.running.size, 0);
    router.close();
  });

  it("gives a failed delivery's retry a turn behind the deliveries already waiting", async () => {
    const router = new EventRouter({ maxConcurrentDeliveries: 1, retryDelayMs: 0 });
    const target = heldTarget(router, "event-1");
    for (let i = 1; i <= 3; i += 1) router.publish(event(i));
    await target.startedCount(1);
    assert.deepEqual(target.started, ["event-2"]);
    target.finish("event-2");
    await target.startedCount(2);
    target.finish(target.started[1]);
    await target.startedCount(3);
    target.finish(target.started[2]);
    await router.idle();
    assert.deepEqual(target.started, ["event-2", "event-3", "event-1"]);
    assert.deepEqual(router.deliveryFailures, []);
    router.close();
  });
});
