// End-to-end: the release build in dist/, served on 127.0.0.1, driven by playwright-core in
// Debian's chromium. With WebGPU (SwiftShader) and without it (the CPU fallback).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openPage as open, assertOnlyOwnOrigin as ownOrigin } from './util.mjs';

// The first WebGPU step compiles shaders on SwiftShader.
const STEP_TIMEOUT = 180_000;

let server;
let origin;
before(async () => {
  server = await startServer();
  origin = server.origin;
});
after(() => server.close());

const openPage = (options) => open(origin, options);
const assertOnlyOwnOrigin = (requests) => ownOrigin(requests, origin);

/** Clicks the training-step button and returns [before, after] from the newest row. */
async function trainingStep(page, n) {
  await page.click('#smoke-step');
  const row = page.locator('#smoke-losses tr.step').nth(n - 1);
  await row.waitFor({ timeout: STEP_TIMEOUT });
  const before = Number(await row.locator('.loss-before').textContent());
  const after = Number(await row.locator('.loss-after').textContent());
  return [before, after];
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
    // Chromium has relaxed SIMD: only the worker built with it is fetched.
    assert.ok(requests.some((u) => u.endsWith('/worker_relaxed_bg.wasm')), `worker wasm not fetched: ${requests}`);
    assert.ok(!requests.some((u) => u.endsWith('/worker_bg.wasm')), 'the plain worker was fetched too');
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
    assert.equal(await page.textContent('#backend-summary'), 'CPU — flex, wasm SIMD128 and relaxed SIMD, 1 thread');
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

test('without relaxed SIMD: the plain SIMD128 worker runs and trains', async () => {
  // An engine without relaxed SIMD refuses any module that uses it; here the page is told so
  // through WebAssembly.validate, which is how it asks.
  const { page, requests, errors, close } = await openPage({ webgpu: false, relaxedSimd: false });
  try {
    const badge = page.locator('#backend[data-backend]');
    await badge.waitFor({ timeout: 60_000 });
    assert.equal(await page.textContent('#backend-summary'), 'CPU — flex, wasm SIMD128, 1 thread');
    const [before, afterStep] = await trainingStep(page, 1);
    assert.ok(afterStep < before, `loss did not drop: ${before} → ${afterStep}`);
    assert.ok(requests.some((u) => u.endsWith('/worker_bg.wasm')), `worker wasm not fetched: ${requests}`);
    assert.ok(!requests.some((u) => u.endsWith('/worker_relaxed_bg.wasm')), 'the relaxed worker was fetched');
    assert.deepEqual(errors, []);
    assertOnlyOwnOrigin(requests);
  } finally {
    await close();
  }
});
