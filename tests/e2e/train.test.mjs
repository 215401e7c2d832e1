// End-to-end: training in the page. On the demo set, a small DenseNet trains for two epochs in
// the worker, the loss and AUC curves draw, the kept model is evaluated on the test split (ROC
// plot and AUC table) and both downloads produce files; a long run can be cancelled.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startServer, openPage as open, assertOnlyOwnOrigin } from './util.mjs';

const LOAD_TIMEOUT = 120_000;
const SAMPLE = join(ROOT, 'www', 'demo', 'nih800', 'train', '1_abnormal', '00000001_000.png');
const TRAIN_TIMEOUT = 600_000;
// Tiny networks in the formats of torchvision's and torchxrayvision's published weights
// (tests/fixtures/pth/make_fixture.py).
const TORCHVISION_PTH = join(ROOT, 'tests', 'fixtures', 'pth', 'torchvision_legacy.pth');
const XRV_PT = join(ROOT, 'tests', 'fixtures', 'pth', 'xrv_tiny.pt');
// The same model in PyTorch's legacy (pre-1.6) format, that of xrv's published files.
const XRV_LEGACY_PT = join(ROOT, 'tests', 'fixtures', 'pth', 'xrv_tiny_legacy.pt');

let server;
before(async () => { server = await startServer(); });
after(() => server.close());

async function loadDemo(page) {
  await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
  await page.click('#demo-button');
  await page.locator('#data-summary').waitFor({ timeout: LOAD_TIMEOUT });
}

async function settings(page, { epochs }) {
  await page.selectOption('#train-model', 'small');
  await page.selectOption('#train-side', '64');
  await page.fill('#train-epochs', String(epochs));
  await page.press('#train-epochs', 'Tab');
}

for (const webgpu of [false, true]) {
  const backend = webgpu ? 'WebGPU' : 'CPU';
  test(`a small DenseNet trains on the demo set, is evaluated and downloads (${backend})`, async () => {
    const { page, requests, errors, close } = await open(server.origin, { webgpu });
    try {
      await loadDemo(page);
      assert.equal(await page.getAttribute('#backend', 'data-backend'), webgpu ? 'webgpu' : 'cpu');
      await settings(page, { epochs: 2 });
      const started = Date.now();
      await page.click('#train-start');
      await page.locator('#train-result').waitFor({ timeout: TRAIN_TIMEOUT });
      const seconds = (Date.now() - started) / 1000;
      const result = await page.textContent('#train-result');
      console.log(`${backend}: ${result} ${await page.textContent('#train-status')} (${seconds.toFixed(0)} s)`);
      assert.match(result, /finished|stopped early/, result);
      // The curves: loss points every few steps, one AUC point per epoch.
      const lossPoints = Number(await page.getAttribute('#loss-chart polyline.series-0', 'data-points'));
      assert.ok(lossPoints >= 4, `loss points ${lossPoints}`);
      assert.equal(await page.getAttribute('#auc-chart polyline.series-0', 'data-points'), '2');
      const rate = Number(await page.getAttribute('#train-status', 'data-rate'));
      assert.ok(rate > 0, `images/s ${rate}`);

      await page.click('#evaluate');
      await page.locator('#evaluation-summary').waitFor({ timeout: TRAIN_TIMEOUT });
      const rows = page.locator('#auc-table tr.auc-row');
      assert.equal(await rows.count(), 14);
      const aucs = (await rows.evaluateAll((els) => els.map((e) => e.dataset.auc))).filter((a) => a !== '');
      assert.ok(aucs.length > 0 && aucs.every((a) => Number(a) >= 0 && Number(a) <= 1), `${aucs}`);
      assert.equal(await page.locator('#roc-plot polyline.roc').count(), aucs.length);
      assert.equal(await page.locator('#roc-small-multiples figure').count(), 14);
      assert.equal(await page.locator('#roc-small-multiples polyline.roc').count(), aucs.length);
      const [multiples] = await Promise.all([page.waitForEvent('download'), page.click('#download-roc-multiples')]);
      const svgText = readFileSync(await multiples.path(), 'utf8');
      assert.match(svgText, /^<\?xml/);
      assert.equal((svgText.match(/<polyline class="roc"/g) ?? []).length, aucs.length);
      console.log(`${backend}: ${await page.textContent('#evaluation-summary')}`);

      const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#download-auc-csv')]);
      const text = readFileSync(await csv.path(), 'utf8');
      assert.match(text, /^output,auc,ci_low,ci_high,positives,negatives\n/);
      assert.equal(text.trim().split('\n').length, 16); // header, 14 outputs, mean
      const [model] = await Promise.all([page.waitForEvent('download'), page.click('#save-model')]);
      const bytes = readFileSync(await model.path());
      // safetensors: an 8-byte little-endian header length, then the JSON header.
      const headerLength = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
      assert.ok(header.__metadata__?.cxr_lab, 'our metadata');
      assert.equal(JSON.parse(header.__metadata__.cxr_lab).outputs.length, 14);

      // Classify a sample X-ray with the model just trained: sorted bars and a heatmap.
      assert.match(await page.textContent('#model-info'), /trained in this tab/);
      await page.setInputFiles('#classify-input', [SAMPLE]);
      const classified = page.locator('.classified[data-name="00000001_000.png"]');
      await classified.waitFor({ timeout: TRAIN_TIMEOUT });
      const ps = (await classified.locator('tr.bar-row').evaluateAll((els) => els.map((e) => Number(e.dataset.p))));
      assert.equal(ps.length, 14);
      assert.ok(ps.every((p) => p > 0 && p < 1), `${ps}`);
      assert.deepEqual(ps, [...ps].sort((a, b) => b - a), 'sorted, most likely first');
      const overlay = await classified.locator('img.overlay').getAttribute('src');
      assert.match(overlay, /^data:image\/png;base64,/);
      const [probabilities] = await Promise.all([page.waitForEvent('download'), page.click('#download-probabilities')]);
      const rowsCsv = readFileSync(await probabilities.path(), 'utf8').trim().split('\n');
      assert.equal(rowsCsv.length, 2);
      assert.ok(rowsCsv[0].startsWith('path,Atelectasis,'));

      assert.equal(await page.locator('[style]').count(), 0);
      assert.deepEqual(errors, []);
      assertOnlyOwnOrigin(requests, server.origin);
    } finally {
      await close();
    }
  });
}

test('Cancel stops a training run and keeps the page usable', async () => {
  const { page, errors, close } = await open(server.origin, { webgpu: false });
  try {
    await loadDemo(page);
    await settings(page, { epochs: 50 });
    await page.click('#train-start');
    await page.waitForFunction(() => Number(document.querySelector('#train-status')?.dataset.step) >= 3,
      null, { timeout: TRAIN_TIMEOUT });
    await page.click('#train-pause');
    await page.locator('#train-resume').waitFor({ timeout: 30_000 });
    await page.click('#train-resume');
    await page.click('#train-cancel');
    await page.locator('#train-result').waitFor({ timeout: 60_000 });
    assert.match(await page.textContent('#train-result'), /Cancelled/);
    assert.equal(await page.isEnabled('#train-start'), true);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('Compare augmentation levels trains none, basic and complex, resumes after a Cancel, and shows the table', async () => {
  const { page, errors, close } = await open(server.origin, { webgpu: false });
  const done = (n) => page.waitForFunction((n) => document.querySelector('#comparison-status')?.dataset.done === n,
    n, { timeout: TRAIN_TIMEOUT });
  try {
    await loadDemo(page);
    await settings(page, { epochs: 1 });
    await page.click('#compare-start');
    // Cancel during the second level; the first stays; Resume trains the other two.
    await done('1');
    await page.waitForFunction(() => Number(document.querySelector('#train-status')?.dataset.step) >= 2,
      null, { timeout: TRAIN_TIMEOUT });
    await page.click('#train-cancel');
    await page.locator('#compare-resume').waitFor({ timeout: TRAIN_TIMEOUT });
    assert.equal(await page.getAttribute('#comparison-status', 'data-done'), '1');
    await page.click('#compare-resume');
    await done('3');
    const heads = await page.locator('#comparison-table thead th').allTextContents();
    assert.deepEqual(heads, ['output', 'none', 'basic', 'complex']);
    assert.equal(await page.locator('#comparison-table tr.comparison-row').count(), 14);
    const means = await page.locator('#comparison-table tr.comparison-mean td')
      .evaluateAll((els) => els.map((e) => Number(e.dataset.mean)));
    assert.equal(means.length, 3);
    assert.ok(means.every((m) => m > 0 && m < 1), `${means}`);
    // Each row with an AUC marks its best level.
    const rowsWithBest = await page.locator('#comparison-table tr.comparison-row:has(td.best)').count();
    assert.ok(rowsWithBest >= 10, `${rowsWithBest} rows with a best level`);
    console.log(`comparison means (none, basic, complex): ${means.map((m) => m.toFixed(3)).join(', ')}`);
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#download-comparison-csv')]);
    const lines = readFileSync(await csv.path(), 'utf8').trim().split('\n');
    assert.equal(lines[0], 'output,level,auc,ci_low,ci_high');
    assert.equal(lines.length, 1 + 3 * 15);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('Initial weights: .pth and .pt files are recognised by content, trained from, and xrv weights classify as they are', async () => {
  const { page, errors, close } = await open(server.origin, { webgpu: false });
  try {
    await loadDemo(page);
    // Not weights (a PNG): a sentence, and nothing is sent.
    await page.setInputFiles('#train-weights', [SAMPLE]);
    await page.locator('#train-weights-error').waitFor({ timeout: 30_000 });
    assert.match(await page.textContent('#train-weights-error'), /not a weights file/);
    await page.setInputFiles('#train-weights', [TORCHVISION_PTH]);
    await page.locator('#train-weights-name').waitFor({ timeout: 30_000 });
    assert.match(await page.textContent('#train-weights-name'),
      /torchvision_legacy\.pth: DenseNet \(blocks \[2, 2\], growth 4\), 3 outputs, 3 channels \(torch\.save\)/);
    await page.setInputFiles('#train-weights', [XRV_PT]);
    await page.waitForFunction(() => document.querySelector('#train-weights-name')?.textContent.includes('xrv_tiny.pt'),
      null, { timeout: 30_000 });
    assert.match(await page.textContent('#train-weights-name'),
      /torchxrayvision DenseNet .*, 18 outputs, 1 channel, 14 mapped to NIH findings/);
    await page.selectOption('#train-side', '64');
    await page.fill('#train-epochs', '1');
    await page.press('#train-epochs', 'Tab');
    await page.click('#train-start');
    await page.locator('#train-result').waitFor({ timeout: TRAIN_TIMEOUT });
    assert.match(await page.textContent('#train-result'), /finished|stopped early/);

    // The xrv file (legacy format) as a model to classify with, before any training of ours.
    await page.setInputFiles('#model-input', [XRV_LEGACY_PT]);
    await page.waitForFunction(() => document.querySelector('#model-info')?.textContent.includes('torchxrayvision'),
      null, { timeout: 60_000 });
    assert.equal(await page.getAttribute('#model-info', 'data-outputs'), '14');
    await page.setInputFiles('#classify-input', [SAMPLE]);
    const classified = page.locator('.classified[data-name="00000001_000.png"]');
    await classified.waitFor({ timeout: TRAIN_TIMEOUT });
    const ps = await classified.locator('tr.bar-row').evaluateAll((els) => els.map((e) => Number(e.dataset.p)));
    assert.equal(ps.length, 14);
    // The fixture's random weights see inputs of ±1024 (xrv's scale) and saturate: 0 and 1 are
    // fine here; PyTorch's own numbers are checked natively (src/model/pretrained.rs).
    assert.ok(ps.every((p) => p >= 0 && p <= 1), `${ps}`);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
