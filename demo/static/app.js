// The page: one stream per tab, a WebSocket that reconnects with the
// receiver's resume point, the agent's events as they are released (exactly
// once, in order), and live metrics. `window.demo` exposes the state for the
// browser test.
import { Receiver } from './receiver.js';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token') || '';

const demo = {
  stream: null,
  receiver: null,
  state: 'connecting',
  connects: 0, // sockets opened
  reconnects: 0, // sockets opened after the first
  closes: [], // close codes seen
  log: [], // every delivery, in order: {type:'event', seq, payload} or {type:'skipped', start, end}
  rejected: [], // frames the receiver refused
  outcomes: new Map(), // "run:index" -> server outcome record
  runs: [],
  metrics: null,
  metricsSince: 0, // the last outcome record seen
};
window.demo = demo;

let ws = null;
let backoffMs = 250;
let ackTimer = null;
const rows = new Map(); // "run:index" -> <li>

function setState(state, info = '') {
  demo.state = state;
  const el = $('conn');
  el.textContent = state;
  el.className = `badge state-${state}`;
  $('connInfo').textContent = info;
}

async function api(method, path) {
  const res = await fetch(path, { method });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status}`);
  return body;
}

function connect() {
  setState(demo.connects === 0 ? 'connecting' : 'reconnecting', `stream ${demo.stream}`);
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(token)}`;
  const socket = new WebSocket(url);
  ws = socket;
  socket.onopen = () => {
    demo.connects++;
    if (demo.connects > 1) demo.reconnects++;
    backoffMs = 250;
    // The first frame on every connection: where to resume.
    socket.send(JSON.stringify(demo.receiver.hello()));
    setState('open');
    renderClient();
    if (demo.reconnects > 0) {
      note(`socket closed (${demo.closes[demo.closes.length - 1]}) · reconnected · hello resume=${demo.receiver.cumulative}`);
    }
  };
  socket.onmessage = (msg) => {
    let frame;
    try {
      frame = JSON.parse(msg.data);
    } catch {
      demo.rejected.push('not JSON');
      return;
    }
    const problem = demo.receiver.handleFrame(performance.now(), frame);
    if (problem) demo.rejected.push(problem);
    pump();
  };
  socket.onclose = (ev) => {
    if (ws !== socket) return;
    ws = null;
    demo.closes.push(ev.code);
    if (ev.code === 4404) {
      setState('error', 'the server does not know this stream (restarted?): reload the page');
      return;
    }
    // Reconnect with backoff and jitter; the receiver keeps its state.
    const delay = backoffMs / 2 + Math.random() * (backoffMs / 2);
    backoffMs = Math.min(backoffMs * 2, 4000);
    setState('reconnecting', `socket closed (${ev.code}); retrying in ${Math.round(delay)} ms`);
    renderClient();
    setTimeout(connect, delay);
  };
}

// After every input: show what was released, send the ack if one is due, and
// arm the coalescing timer.
function pump() {
  const rx = demo.receiver;
  for (let d = rx.pollDelivery(); d; d = rx.pollDelivery()) {
    demo.log.push(d);
    render(d);
  }
  const ack = rx.pollAck();
  if (ack && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(ack));
  clearTimeout(ackTimer);
  const at = rx.pollTimeout();
  if (at !== null) {
    ackTimer = setTimeout(() => {
      rx.handleTimeout(performance.now());
      pump();
    }, Math.max(0, at - performance.now()));
  }
  renderClient();
}

function note(text) {
  const li = document.createElement('li');
  li.className = 'info';
  li.textContent = text;
  $('events').appendChild(li);
}

function render(d) {
  $('empty').hidden = true;
  const li = document.createElement('li');
  if (d.type === 'event') {
    const p = d.payload || {};
    const key = `${p.run}:${p.index}`;
    li.innerHTML = '<span class="seq"></span><span class="kind"></span><span class="text"></span><span class="status">delivered</span>';
    li.querySelector('.seq').textContent = `#${d.seq}`;
    li.querySelector('.kind').textContent = p.kind;
    li.querySelector('.kind').classList.add(`k-${p.kind}`);
    li.querySelector('.text').textContent = p.text;
    li.querySelector('.text').title = p.text;
    rows.set(key, li);
    const outcome = demo.outcomes.get(key);
    if (outcome) markOutcome(li, outcome);
  } else {
    li.className = 'skipped';
    li.innerHTML = '<span class="seq"></span><span class="kind k-skipped">skipped</span><span class="text"></span><span class="status"></span>';
    li.querySelector('.seq').textContent = `#${d.start}`;
    const n = d.end - d.start;
    li.querySelector('.text').textContent = `${n} seq${n > 1 ? 's' : ''} given up by the server (superseded or expired)`;
  }
  const list = $('events');
  list.appendChild(li);
  list.scrollTop = list.scrollHeight;
}

function markOutcome(li, o) {
  const status = li.querySelector('.status');
  if (o.outcome === 'confirmed') {
    status.textContent = `✓ confirmed · ${o.attempts} ${o.attempts > 1 ? 'tries' : 'try'} · ${o.latency_ms.toFixed(0)} ms`;
    status.classList.add('ok');
  } else {
    status.textContent = o.outcome;
  }
}

function table(el, rowsData) {
  el.innerHTML = rowsData.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('');
}

function renderClient() {
  if (demo.state === 'open') {
    $('connInfo').textContent = `stream ${demo.stream} · resume ${demo.receiver.cumulative} · reconnects ${demo.reconnects}`;
  }
  const m = demo.receiver ? demo.receiver.metrics : {};
  table($('client'), [
    ['delivered', m.delivered ?? 0],
    ['duplicates dropped', m.duplicates ?? 0],
    ['skipped', m.skipped ?? 0],
    ['acks sent', m.acksSent ?? 0],
    ['resume point', demo.receiver ? demo.receiver.cumulative : 0],
    ['reconnects', demo.reconnects],
    ['frames refused', m.rejected ?? 0],
  ]);
}

const pct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`);
const ms = (x) => `${x.toFixed(1)} ms`;

async function pollMetrics() {
  try {
    const m = await api('GET', `/api/metrics?token=${encodeURIComponent(token)}&since=${demo.metricsSince}`);
    demo.metrics = m;
    for (const o of m.outcomes) {
      demo.metricsSince = Math.max(demo.metricsSince, o.n);
      const key = `${o.run}:${o.index}`;
      demo.outcomes.set(key, o);
      const li = rows.get(key);
      if (li) markOutcome(li, o);
    }
    $('kill').hidden = !m.test_hooks;
    const u = m.user.tracker;
    const g = m.global.tracker;
    $('server').innerHTML =
      '<tr><th></th><th>you</th><th>all users</th></tr>' +
      [
        ['confirmation rate', pct(u.confirmation_rate), pct(g.confirmation_rate)],
        ['submitted', u.submitted, g.submitted],
        ['confirmed', u.confirmed, g.confirmed],
        ['superseded', u.superseded, g.superseded],
        ['expired', u.expired_deadline + u.expired_attempts, g.expired_deadline + g.expired_attempts],
        ['sent', u.sent, g.sent],
        ['retried', u.retried, g.retried],
        ['in flight', u.in_flight, g.in_flight],
        ['queued', u.queued, g.queued],
        ['resumes', u.resumes, g.resumes],
        ['acks rejected', u.acks_rejected, g.acks_rejected],
        ['latency p50', ms(u.latency_ms.p50), ms(g.latency_ms.p50)],
        ['latency p99', ms(u.latency_ms.p99), ms(g.latency_ms.p99)],
        ['sockets open', m.user.driver.connections_open, m.global.driver.connections_open],
      ]
        .map(([k, a, b]) => `<tr><td>${k}</td><td>${a}</td><td>${b}</td></tr>`)
        .join('');
  } catch (e) {
    // The server may be restarting; the next poll tries again.
  }
}

async function startRun() {
  const q = new URLSearchParams({
    token,
    stream: demo.stream,
    steps: $('steps').value,
    thinking: $('thinking').value,
    pace_ms: $('pace').value,
    conflate: $('conflate').checked ? 'true' : 'false',
  });
  const run = await api('POST', `/api/runs?${q}`);
  demo.runs.push(run);
}

async function main() {
  if (!token) {
    setState('error', 'open this page with ?token=… (the server prints one URL per user)');
    return;
  }
  let opened;
  try {
    opened = await api('POST', `/api/streams?token=${encodeURIComponent(token)}`);
  } catch (e) {
    setState('error', `cannot open a stream: ${e.message}`);
    return;
  }
  demo.stream = opened.stream;
  demo.receiver = new Receiver(opened.stream);
  $('who').textContent = `user ${opened.user}`;
  $('start').disabled = false;
  $('start').onclick = () => startRun().catch((e) => alert(e.message));
  $('drop').onclick = () => ws && ws.close(4000, 'dropped by the user');
  $('kill').onclick = () => api('POST', `/api/test/kill?token=${encodeURIComponent(token)}`);
  // Closing the tab says goodbye (1001): the server closes the stream.
  addEventListener('pagehide', () => ws && ws.close(1000, 'page closed'));
  renderClient();
  connect();
  setInterval(pollMetrics, 500);
  pollMetrics();
}

main();
