// Unit tests of the page's JavaScript receiver (demo/static/receiver.js)
// against PROTOCOL.md's client rules: `node --test` (run.sh runs them first).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Receiver } from '../static/receiver.js';

const S = '4294967298';
const ev = (seq, attempt = 1, floor = 0) => ({ type: 'event', stream: S, seq, attempt, floor, payload: { n: seq } });
const drain = (rx) => {
  const out = [];
  for (let d = rx.pollDelivery(); d; d = rx.pollDelivery()) out.push(d);
  return out;
};

test('releases in order through the reorder buffer and acks with ranges and an echo', () => {
  const rx = new Receiver(S, { ackEvery: 1 });
  assert.equal(rx.handleFrame(0, ev(1)), null);
  assert.equal(rx.handleFrame(0, ev(3, 2)), null);
  assert.deepEqual(drain(rx), []);
  assert.deepEqual(rx.pollAck(), {
    type: 'ack', stream: S, cumulative: 0, ranges: [{ start: 1, end: 2 }, { start: 3, end: 4 }], echo: { seq: 3, attempt: 2 },
  });
  rx.handleFrame(0, ev(0));
  assert.deepEqual(drain(rx).map((d) => d.seq), [0, 1]);
  assert.equal(rx.pollAck().cumulative, 2);
  assert.deepEqual(rx.hello(), { type: 'hello', stream: S, resume: 2 });
});

test('a duplicate is never released again and is acked at once', () => {
  const rx = new Receiver(S, { ackEvery: 2 });
  rx.handleFrame(0, ev(0));
  assert.deepEqual(drain(rx).map((d) => d.seq), [0]);
  assert.equal(rx.pollAck(), null, 'coalesced: one new event is not enough');
  assert.equal(rx.pollTimeout(), 25);
  rx.handleFrame(1, ev(0, 2));
  assert.deepEqual(drain(rx), []);
  assert.deepEqual(rx.pollAck().echo, { seq: 0, attempt: 2 });
  assert.equal(rx.metrics.duplicates, 1);
});

test('the floor and skips resolve gaps, each seq reported exactly once', () => {
  const rx = new Receiver(S, { ackEvery: 1 });
  rx.handleFrame(0, ev(4, 1, 2)); // floor 2: seqs 0 and 1 are given up
  assert.deepEqual(drain(rx), [{ type: 'skipped', start: 0, end: 2 }]);
  rx.handleFrame(0, { type: 'skip', stream: S, seqs: { start: 2, end: 4 }, floor: 2 });
  assert.deepEqual(drain(rx), [{ type: 'skipped', start: 2, end: 4 }, { type: 'event', seq: 4, payload: { n: 4 } }]);
  const ack = rx.pollAck();
  assert.equal(ack.cumulative, 5);
  assert.equal(ack.echo, null, 'an ack answering a skip echoes nothing');
  rx.handleFrame(0, ev(3)); // skipped before it arrived: a duplicate
  assert.deepEqual(drain(rx), []);
});

test('frames that cannot be right are refused and change nothing', () => {
  const rx = new Receiver(S, { window: 8 });
  assert.match(rx.handleFrame(0, { ...ev(0), stream: '7' }), /stream/);
  assert.match(rx.handleFrame(0, ev(0, 0)), /bad numbers/);
  assert.match(rx.handleFrame(0, ev(2, 1, 3)), /floor/);
  assert.match(rx.handleFrame(0, ev(8)), /window/);
  assert.match(rx.handleFrame(0, { type: 'skip', stream: S, seqs: { start: 3, end: 3 }, floor: 0 }), /empty/);
  assert.match(rx.handleFrame(0, { type: 'ack', stream: S }), /does not take/);
  assert.equal(rx.cumulative, 0);
  assert.deepEqual(drain(rx), []);
  assert.equal(rx.metrics.rejected, 6);
});

test('an early event that finds the reorder buffer full is dropped unacked', () => {
  const rx = new Receiver(S, { reorderMax: 1, ackEvery: 1 });
  rx.handleFrame(0, ev(1));
  rx.pollAck();
  rx.handleFrame(0, ev(2));
  assert.equal(rx.pollAck(), null);
  assert.equal(rx.metrics.droppedOverBuffer, 1);
  rx.handleFrame(0, ev(0)); // the awaited seq is always taken
  assert.deepEqual(drain(rx).map((d) => d.seq), [0, 1]);
});

test('ranges beyond the limit keep the one holding the echoed seq', () => {
  const rx = new Receiver(S, { rangesMax: 2, ackEvery: 1 });
  for (const seq of [2, 4, 6]) {
    rx.handleFrame(0, ev(seq));
    rx.pollAck();
  }
  rx.handleFrame(0, ev(6, 2));
  assert.deepEqual(rx.pollAck().ranges, [{ start: 2, end: 3 }, { start: 6, end: 7 }]);
});
