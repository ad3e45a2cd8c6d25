// Drives headless Chromium through the demo page (see run.sh).
// usage: node test.mjs PATH/TO/acktrack-demo SCREENSHOT.png
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [bin, screenshotPath] = process.argv.slice(2);
if (!bin || !screenshotPath) {
  console.error('usage: node test.mjs PATH/TO/acktrack-demo SCREENSHOT.png');
  process.exit(2);
}
const token = 'browser-test-token';
const STEPS = 8;
const THINKING = 2;
const EVENTS = 2 + STEPS * (THINKING + 2); // 34
const KILL_AFTER = 10; // events delivered before the server drops the socket

// Everything stops by itself: a watchdog ends the run after two minutes.
const watchdog = setTimeout(() => fail('watchdog: the test took over 120 s'), 120_000);
let server = null;
let context = null;
const userDataDir = mkdtempSync(join(tmpdir(), 'acktrack-chromium-'));

function cleanup() {
  if (server && server.exitCode === null) server.kill('SIGTERM');
  rmSync(userDataDir, { recursive: true, force: true });
}

async function fail(message) {
  console.error(`browser test FAILED: ${message}`);
  try {
    if (context) await context.close();
  } catch {}
  cleanup();
  process.exit(1);
}

function check(ok, message) {
  if (!ok) throw new Error(message);
}

async function startServer() {
  server = spawn(bin, ['--addr', '127.0.0.1:0', '--shards', '2', '--tokens', `${token}:7`, '--test-hooks'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the server printed no URL within 30 s')), 30_000);
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
}

async function main() {
  const base = await startServer();
  console.log(`server at ${base}`);
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 860 },
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${base}/?token=${token}`);
  await page.waitForFunction(() => window.demo && window.demo.state === 'open', null, { timeout: 15_000 });
  console.log('page connected');

  // A whole agent run, conflated thinking events, paced so the kill lands mid-run.
  await page.fill('#steps', String(STEPS));
  await page.fill('#thinking', String(THINKING));
  await page.fill('#pace', '120');
  await page.click('#start');
  const delivered = () => page.evaluate(() => window.demo.log.filter((d) => d.type === 'event').length);
  await page.waitForFunction((n) => window.demo.log.filter((d) => d.type === 'event').length >= n, KILL_AFTER, {
    timeout: 15_000,
  });

  // The server drops the socket abruptly (no close frame), mid-run.
  const killed = await (await fetch(`${base}/api/test/kill?token=${token}`, { method: 'POST' })).json();
  const atKill = await delivered();
  console.log(`killed ${killed.killed} socket(s) after ${atKill} events`);
  check(killed.killed >= 1, 'the kill hook found no socket');
  check(atKill < EVENTS - 5, `the run was nearly over at the kill (${atKill} events)`);
  await page.waitForFunction(() => window.demo.reconnects >= 1 && window.demo.state === 'open', null, {
    timeout: 15_000,
  });
  console.log('page reconnected');

  // The run completes, and the server has an outcome for every event.
  await page.waitForFunction(
    () => window.demo.log.some((d) => d.type === 'event' && d.payload.kind === 'agent_completed'),
    null,
    { timeout: 30_000 },
  );
  let m;
  for (let i = 0; ; i++) {
    m = await (await fetch(`${base}/api/metrics?token=${token}`)).json();
    const u = m.user.tracker;
    if (u.submitted === EVENTS && u.finished === EVENTS) break;
    check(i < 100, `the server did not finish every event: ${JSON.stringify(u)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const u = m.user.tracker;
  const state = await page.evaluate(() => ({
    log: window.demo.log,
    closes: window.demo.closes,
    reconnects: window.demo.reconnects,
    rejected: window.demo.rejected,
    metrics: window.demo.receiver.metrics,
    resume: window.demo.receiver.cumulative,
  }));

  // No gap: events and skipped ranges cover 0, 1, 2, … exactly once, in order.
  let next = 0;
  for (const d of state.log) {
    if (d.type === 'event') {
      check(d.seq === next, `seq ${d.seq} where ${next} was due`);
      next++;
    } else {
      check(d.start === next && d.end > d.start, `skip ${d.start}..${d.end} where ${next} was due`);
      next = d.end;
    }
  }
  check(next === state.resume, `released up to ${next}, resume point ${state.resume}`);
  // No duplicate: each event of the run released once, in run order.
  const events = state.log.filter((d) => d.type === 'event').map((d) => d.payload);
  const indexes = events.map((p) => p.index);
  check(new Set(indexes).size === indexes.length, `an event was released twice: ${indexes}`);
  check(indexes.every((x, i) => i === 0 || x > indexes[i - 1]), `events out of order: ${indexes}`);
  // Only conflated progress events may be missing (superseded), nothing else.
  for (const kind of ['agent_started', 'tool_executing', 'tool_completed', 'agent_completed']) {
    const want = kind.startsWith('tool') ? STEPS : 1;
    const got = events.filter((p) => p.kind === kind).length;
    check(got === want, `${got} ${kind} events, expected ${want}`);
  }
  check(
    await page.evaluate(() => document.querySelectorAll('#events li.info').length === 1),
    'the page did not note the reconnect',
  );
  check(state.rejected.length === 0, `the page refused frames: ${state.rejected}`);
  // The server's view agrees: each event confirmed or superseded (a thinking
  // event superseded while its ack was on the way may still have been
  // released), and every event the page did not get was superseded.
  check(u.confirmed + u.superseded === EVENTS, `outcomes: ${JSON.stringify(u)}`);
  check(u.confirmed <= events.length, `server confirmed ${u.confirmed}, page released ${events.length}`);
  check(EVENTS - events.length <= u.superseded, `${EVENTS - events.length} events missing, ${u.superseded} superseded`);
  check(u.expired_deadline + u.expired_attempts === 0, 'events expired');

  // Let the page show the confirmations, then keep a picture.
  await page.waitForFunction(
    (n) => document.querySelectorAll('#events .status.ok').length >= n,
    u.confirmed,
    { timeout: 10_000 },
  );
  // Show the reconnect in the middle of the run: scroll the list to it.
  await page.evaluate(() => {
    const list = document.getElementById('events');
    const info = list.querySelector('li.info');
    if (info) list.scrollTop = info.offsetTop - list.offsetTop - 4 * info.offsetHeight;
  });
  await page.screenshot({ path: screenshotPath });
  console.log(
    JSON.stringify({
      result: 'pass',
      events: EVENTS,
      released: events.length,
      skipped_seqs: state.metrics.skipped,
      duplicates_dropped: state.metrics.duplicates,
      reconnects: state.reconnects,
      close_codes: state.closes,
      server: { confirmed: u.confirmed, superseded: u.superseded, retried: u.retried, resumes: u.resumes },
      screenshot: screenshotPath,
    }),
  );
  await context.close();
  cleanup();
  clearTimeout(watchdog);
}

main().catch((e) => fail(e.stack || e.message));
