// End-to-end: the batch is capped from the WebGPU adapter's buffer limits. SwiftShader allows
// 1 GiB per buffer; a small DenseNet at 320² needs 5.0 MB per image in its largest buffer (the
// im2col columns of the stem convolution's weight gradient, src/train/memory.rs), so batch 400
// (1.9 GiB) is lowered to 213: the page says so before Start and while training, and the run's
// steps hold 213 images. One step is enough; the run is then cancelled. On the CPU there is no
// such limit and the batch stays.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openPage as open } from './util.mjs';

const LOAD_TIMEOUT = 180_000;
const STEP_TIMEOUT = 600_000;

let server;
before(async () => { server = await startServer(); });
after(() => server.close());

async function ask(page) {
  await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
  await page.selectOption('#side-select', '320');
  await page.click('#demo-button');
  await page.locator('#data-summary').waitFor({ timeout: LOAD_TIMEOUT });
  await page.selectOption('#train-model', 'small');
  await page.selectOption('#train-side', '320');
  await page.fill('#train-batch', '400');
  await page.press('#train-batch', 'Tab');
  await page.fill('#train-epochs', '1');
  await page.press('#train-epochs', 'Tab');
}

test('a batch too large for the GPU\'s buffers is capped with a message, and training runs with it (WebGPU)', async () => {
  const { page, errors, close } = await open(server.origin, { webgpu: true });
  try {
    await ask(page);
    assert.equal(await page.getAttribute('#backend', 'data-backend'), 'webgpu',
      `no WebGPU, so no cap: ${await page.textContent('#backend')}`);
    const expected = 'Batch 400 needs a 1.9 GiB buffer; this GPU allows 1 GiB per buffer: training with batch 213.';
    assert.equal(await page.textContent('#train-batch-cap'), expected);
    const started = Date.now();
    await page.click('#train-start');
    await page.locator('#train-batch-capped').waitFor({ timeout: 60_000 });
    assert.equal(await page.textContent('#train-batch-capped'), expected);
    await page.waitForFunction(
      () => Number(document.querySelector('#train-status')?.dataset.step ?? 0) >= 1,
      null, { timeout: STEP_TIMEOUT, polling: 500 });
    const status = page.locator('#train-status');
    console.log(`${await status.textContent()} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    assert.equal(await status.getAttribute('data-batch'), '213');
    assert.match(await status.getAttribute('data-path'), /^WebGPU \(/);
    await page.click('#train-cancel');
    await page.locator('#train-result').waitFor({ timeout: STEP_TIMEOUT });
    assert.match(await page.textContent('#train-result'), /Cancelled/);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('the CPU path has no buffer cap and names itself while training', async () => {
  const { page, errors, close } = await open(server.origin, { webgpu: false });
  try {
    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    await page.click('#demo-button');
    await page.locator('#data-summary').waitFor({ timeout: LOAD_TIMEOUT });
    await page.selectOption('#train-model', 'small');
    await page.selectOption('#train-side', '64');
    await page.fill('#train-batch', '400');
    await page.press('#train-batch', 'Tab');
    assert.equal(await page.locator('#train-batch-cap').count(), 0);
    await page.fill('#train-batch', '16');
    await page.press('#train-batch', 'Tab');
    await page.click('#train-start');
    await page.waitForFunction(
      () => Number(document.querySelector('#train-status')?.dataset.step ?? 0) >= 1,
      null, { timeout: STEP_TIMEOUT, polling: 500 });
    const status = page.locator('#train-status');
    console.log(await status.textContent());
    assert.equal(await status.getAttribute('data-path'), 'CPU (flex, wasm SIMD128 and relaxed SIMD, 1 thread)');
    assert.match(await status.textContent(), /images\/s on CPU \(flex, wasm SIMD128 and relaxed SIMD, 1 thread\)/);
    assert.equal(await page.locator('#train-batch-capped').count(), 0);
    await page.click('#train-cancel');
    await page.locator('#train-result').waitFor({ timeout: STEP_TIMEOUT });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
