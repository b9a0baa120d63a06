import { createRequire } from 'node:module';

// kafkajs 2.2.4 (its last release) re-arms a timer after every check of a connection's request queue, even
// with nothing pending: the delay is then negative, Node clamps it to 1 ms, and every idle broker connection
// wakes the process a thousand times a second (TimeoutNegativeWarning). Nothing needs scheduling while no
// request is pending — a request that becomes pending schedules its own check when it is queued — so the
// check is skipped then. tools/bench/kafka-clients.mjs measures the idle CPU with and without this.
interface RequestQueue {
  pending: unknown[];
  scheduleCheckPendingRequests(): void;
}

let applied = false;

export function fixKafkajsIdleTimer(): void {
  if (applied) return;
  const require = createRequire(import.meta.url);
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
    prototype: RequestQueue;
  };
  const original = RequestQueue.prototype.scheduleCheckPendingRequests;
  if (typeof original !== 'function') {
    throw new Error(
      'kafkajs changed: RequestQueue.scheduleCheckPendingRequests is gone; revisit idle-timer-fix.ts',
    );
  }
  RequestQueue.prototype.scheduleCheckPendingRequests = function scheduleWhenPending(this: RequestQueue) {
    if (this.pending.length === 0) return;
    original.call(this);
  };
  applied = true;
}
