// The receiving side of one acktrack stream, in plain JavaScript: a port of
// the Rust `Receiver` (core/src/receiver.rs) following PROTOCOL.md's
// "The client's rules", ordered mode. Sans-IO like the original: frames and
// time go in (`handleFrame`, `handleTimeout`), deliveries and acks come out
// (`pollDelivery`, `pollAck`, `pollTimeout`). The caller owns the socket.
//
// Seqs are JavaScript numbers (exact up to 2^53, far beyond any stream's
// life); stream ids stay strings, as the protocol asks.

export class Receiver {
  constructor(stream, options = {}) {
    this.stream = String(stream);
    this.window = options.window ?? 64; // at least the server's flow.window
    this.reorderMax = options.reorderMax ?? 64;
    this.ackEvery = options.ackEvery ?? 2;
    this.ackDelayMs = options.ackDelayMs ?? 25;
    this.rangesMax = options.rangesMax ?? 32;
    this.cumulative = 0; // C: every seq below it was released or skipped
    this.marks = new Map(); // seq >= C -> 'r' (received) or 's' (skipped)
    this.buffer = new Map(); // seq -> payload, received early, not released
    this.deliveries = [];
    this.echo = null; // {seq, attempt} of the latest event frame
    this.unacked = 0;
    this.ackAt = null; // ms timestamp when the coalesced ack is due
    this.ackDue = false;
    this.metrics = { received: 0, delivered: 0, duplicates: 0, skipped: 0, droppedOverBuffer: 0, acksSent: 0, rejected: 0 };
  }

  // The hello frame for a (re)connection: resume = cumulative ack.
  hello() {
    return { type: 'hello', stream: this.stream, resume: this.cumulative };
  }

  // Any server frame. Returns an error string for a refused frame (which
  // changed nothing), or null.
  handleFrame(nowMs, frame) {
    if (frame.type === 'event') return this.handleEvent(nowMs, frame);
    if (frame.type === 'skip') return this.handleSkip(frame);
    this.metrics.rejected++;
    return `a receiver does not take ${frame.type} frames`;
  }

  limit(floor) {
    return Math.max(this.cumulative, floor) + this.window;
  }

  handleEvent(nowMs, f) {
    const problem = this.checkEvent(f);
    if (problem) {
      this.metrics.rejected++;
      return problem;
    }
    const { seq, attempt, floor, payload } = f;
    this.resolveBelow(floor);
    const echo = { seq, attempt };
    if (seq < this.cumulative || this.marks.has(seq)) {
      // Duplicate: never released again; ack at once (the server did not hear us).
      this.metrics.duplicates++;
      this.echo = echo;
      this.ackDue = true;
      this.ackAt = null;
      return null;
    }
    if (seq !== this.cumulative && this.buffer.size >= this.reorderMax) {
      // Early and no room: drop without acking; it will be retransmitted.
      this.metrics.droppedOverBuffer++;
      return null;
    }
    this.metrics.received++;
    if (seq === this.cumulative) {
      this.release(seq, payload);
      this.cumulative = seq + 1;
      this.resolveBelow(this.cumulative);
    } else {
      this.marks.set(seq, 'r');
      this.buffer.set(seq, payload);
    }
    this.echo = echo;
    this.unacked++;
    if (this.unacked >= this.ackEvery || this.ackDelayMs === 0) {
      this.ackDue = true;
      this.ackAt = null;
    } else if (this.ackAt === null && !this.ackDue) {
      this.ackAt = nowMs + this.ackDelayMs;
    }
    return null;
  }

  handleSkip(f) {
    const problem = this.checkSkip(f);
    if (problem) {
      this.metrics.rejected++;
      return problem;
    }
    this.resolveBelow(f.floor);
    const start = Math.max(f.seqs.start, this.cumulative);
    const end = f.seqs.end;
    if (start === this.cumulative) {
      this.resolveBelow(end);
    } else {
      for (let s = start; s < end; s++) {
        if (!this.marks.has(s)) this.marks.set(s, 's');
      }
    }
    // Ack at once, echoing no transmission, so a server resending skips stops.
    this.echo = null;
    this.ackDue = true;
    this.ackAt = null;
    return null;
  }

  checkEvent(f) {
    if (String(f.stream) !== this.stream) return `frame for stream ${f.stream}`;
    if (!Number.isSafeInteger(f.seq) || !Number.isSafeInteger(f.floor) || !(f.attempt >= 1)) return 'bad numbers';
    if (f.floor > f.seq) return `floor ${f.floor} above seq ${f.seq}`;
    if (f.seq >= this.limit(f.floor)) return `seq ${f.seq} beyond the window`;
    return null;
  }

  checkSkip(f) {
    if (String(f.stream) !== this.stream) return `frame for stream ${f.stream}`;
    const r = f.seqs || {};
    if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end) || !Number.isSafeInteger(f.floor)) return 'bad numbers';
    if (r.start >= r.end) return 'empty skip';
    if (r.end > this.limit(f.floor)) return 'skip beyond the window';
    return null;
  }

  release(seq, payload) {
    this.metrics.delivered++;
    this.deliveries.push({ type: 'event', seq, payload });
  }

  reportSkipped(seq) {
    this.metrics.skipped++;
    const last = this.deliveries[this.deliveries.length - 1];
    if (last && last.type === 'skipped' && last.end === seq) {
      last.end = seq + 1;
    } else {
      this.deliveries.push({ type: 'skipped', start: seq, end: seq + 1 });
    }
  }

  // Every seq below `to` is resolved: release received ones in order, report
  // the rest skipped, and keep going over anything contiguous above.
  // Bounded: each turn moves C up by one, and C stays within the window.
  resolveBelow(to) {
    for (;;) {
      const mark = this.marks.get(this.cumulative);
      if (mark !== undefined) {
        this.marks.delete(this.cumulative);
        if (mark === 'r') {
          this.release(this.cumulative, this.buffer.get(this.cumulative));
          this.buffer.delete(this.cumulative);
        } else {
          this.reportSkipped(this.cumulative);
        }
      } else if (this.cumulative < to) {
        this.reportSkipped(this.cumulative);
      } else {
        break;
      }
      this.cumulative++;
    }
  }

  handleTimeout(nowMs) {
    if (this.ackAt !== null && this.ackAt <= nowMs) {
      this.ackAt = null;
      this.ackDue = true;
    }
  }

  pollTimeout() {
    return this.ackAt;
  }

  pollDelivery() {
    return this.deliveries.shift();
  }

  pollAck() {
    if (!this.ackDue) return null;
    this.ackDue = false;
    this.ackAt = null;
    this.unacked = 0;
    this.metrics.acksSent++;
    return this.buildAck(this.echo);
  }

  // Ranges: marked seqs above C, adjacent ones merged, lowest first, at most
  // rangesMax; if they do not all fit, the range holding the echoed seq takes
  // the last place so that an ack always covers the frame that triggered it.
  buildAck(echo) {
    const seqs = [...this.marks.keys()].sort((a, b) => a - b);
    const all = [];
    for (const s of seqs) {
      const last = all[all.length - 1];
      if (last && last.end === s) last.end = s + 1;
      else all.push({ start: s, end: s + 1 });
    }
    let ranges = all.slice(0, this.rangesMax);
    if (echo && all.length > this.rangesMax && this.rangesMax > 0) {
      const held = all.find((r) => r.start <= echo.seq && echo.seq < r.end);
      if (held && !ranges.includes(held)) ranges = [...ranges.slice(0, -1), held];
    }
    return {
      type: 'ack',
      stream: this.stream,
      cumulative: this.cumulative,
      ranges: ranges.map((r) => ({ start: r.start, end: r.end })),
      echo: echo ? { seq: echo.seq, attempt: echo.attempt } : null,
    };
  }
}
