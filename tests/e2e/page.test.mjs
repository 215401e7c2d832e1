// End-to-end: the release build in dist/, served on 127.0.0.1, driven by playwright-core in
// Debian's chromium. With WebGPU (SwiftShader) and without it (the CPU fallback).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Flags verified on these machines; without them Chromium tries to reach Google's hosts.
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
// The first WebGPU step compiles shaders on SwiftShader.
const STEP_TIMEOUT = 180_000;

let server;
let origin;
before(async () => {
  server = await serve(DIST);
  origin = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

/** Opens the page in a fresh browser; records console errors and every request. */
async function openPage({ webgpu }) {
  // playwright gives every launch a fresh, temporary profile.
  const args = [...FLAGS];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const context = await browser.newContext();
  const requests = [];
  const errors = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker: ${m.text()}`); }));
  await page.goto(`${origin}/`);
  const close = () => browser.close();
  return { page, requests, errors, close };
}

/** Clicks the training-step button and returns [before, after] from the newest row. */
async function trainingStep(page, n) {
  await page.click('#smoke-step');
  const row = page.locator('#smoke-losses tr.step').nth(n - 1);
  await row.waitFor({ timeout: STEP_TIMEOUT });
  const before = Number(await row.locator('.loss-before').textContent());
  const after = Number(await row.locator('.loss-after').textContent());
  return [before, after];
}

function assertOnlyOwnOrigin(requests) {
  assert.ok(requests.length > 0, 'no request was recorded');
  const foreign = requests.filter((u) => new URL(u).origin !== origin);
  assert.deepEqual(foreign, [], 'requests left the page\'s origin');
}

test('with WebGPU: names the adapter, trains, stays on its origin, has a CSP', async () => {
  const { page, requests, errors, close } = await openPage({ webgpu: true });
  try {
    const badge = page.locator('#backend[data-backend]');
    await badge.waitFor({ timeout: 60_000 });
    assert.equal(await badge.getAttribute('data-backend'), 'webgpu');
    const summary = await page.textContent('#backend-summary');
    assert.match(summary, /^WebGPU — \S/, summary);
    console.log(`adapter: ${summary}`);

    const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
    assert.ok(csp, 'no CSP meta tag');
    for (const directive of ["default-src 'none'", "connect-src 'self'", "script-src 'self' 'wasm-unsafe-eval'"]) {
      assert.ok(csp.includes(directive), `CSP lacks ${directive}: ${csp}`);
    }

    const [b1, a1] = await trainingStep(page, 1);
    assert.ok(a1 < b1, `loss did not drop: ${b1} → ${a1}`);
    const [b2, a2] = await trainingStep(page, 2);
    assert.ok(a2 < b2 && b2 <= b1, `second step: ${b2} → ${a2}`);
    console.log(`WebGPU losses: ${b1} → ${a1}, ${b2} → ${a2}`);

    assert.deepEqual(errors, []);
    assertOnlyOwnOrigin(requests);
    assert.ok(requests.some((u) => u.endsWith('/worker_bg.wasm')), `worker wasm not fetched: ${requests}`);
  } finally {
    await close();
  }
});

test('without WebGPU: names the CPU fallback and still trains', async () => {
  const { page, requests, errors, close } = await openPage({ webgpu: false });
  try {
    const badge = page.locator('#backend[data-backend]');
    await badge.waitFor({ timeout: 60_000 });
    assert.equal(await badge.getAttribute('data-backend'), 'cpu');
    assert.match(await page.textContent('#backend-summary'), /^CPU/);
    const reason = await page.textContent('#fallback-reason');
    assert.match(reason, /WebGPU/, reason);
    assert.match(reason, /CPU/, reason);

    const [before, afterStep] = await trainingStep(page, 1);
    assert.ok(afterStep < before, `loss did not drop: ${before} → ${afterStep}`);
    console.log(`CPU losses: ${before} → ${afterStep}`);

    assert.deepEqual(errors, []);
    assertOnlyOwnOrigin(requests);
  } finally {
    await close();
  }
});
