// End-to-end: the Data panel. The built-in demo set loads through the same worker path as the
// user's files and shows a consistent split and class chart; a picked folder with bad files in
// it lists exactly the bad ones in "Issues with your data" and loads the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ROOT, startServer, openPage as open, assertOnlyOwnOrigin } from './util.mjs';

const DEMO = join(ROOT, 'www', 'demo', 'nih800');
const LOAD_TIMEOUT = 120_000;
const SIDES = ['train', 'validation', 'test'];

let server;
before(async () => { server = await startServer(); });
after(() => server.close());

const openPage = () => open(server.origin, { webgpu: false });

/** Numbers from an attribute of every element matching `selector`. */
async function numbers(page, selector, attribute) {
  const values = await page.locator(selector).evaluateAll(
    (els, a) => els.map((e) => e.getAttribute(a)), attribute);
  return values.map(Number);
}

test('the demo button loads 800 images, shows a consistent split and class chart, and re-splits', async () => {
  const { page, requests, errors, close } = await openPage();
  try {
    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    await page.click('#demo-button');
    const summary = page.locator('#data-summary');
    await summary.waitFor({ timeout: LOAD_TIMEOUT });
    assert.equal(Number(await summary.getAttribute('data-images')), 800);
    const labelled = Number(await summary.getAttribute('data-labelled'));
    assert.equal(labelled, 800, await summary.textContent());

    const count = page.locator('#load-count');
    assert.equal(await count.getAttribute('data-done'), '801'); // 800 PNGs and the CSV
    assert.equal(await count.getAttribute('data-total'), '801');
    const rate = Number(await page.getAttribute('#load-rate', 'data-rate'));
    assert.ok(rate > 0, `rate ${rate}`);
    console.log(`demo ingest: ${await page.textContent('#load-status')}`);

    // The split: every labelled image on one side, patients on each side, no leakage.
    const images = (await page.locator('#split-table tr.side .images').allTextContents()).map(Number);
    const patients = (await page.locator('#split-table tr.side .patients').allTextContents()).map(Number);
    assert.equal(images.length, 3);
    assert.equal(images.reduce((a, b) => a + b, 0), labelled);
    assert.ok(patients.every((p) => p > 0), `patients ${patients}`);
    assert.ok(images[0] > images[2] && images[2] > images[1], `images per side ${images}`);
    assert.equal(await page.getAttribute('#split-leakage', 'data-leaks'), '0');

    // The chart: 14 findings + No finding, one bar per side, counts agreeing with the table.
    const groups = page.locator('#class-chart svg g.class');
    assert.equal(await groups.count(), 15);
    assert.equal(await page.locator('#class-chart svg g.class rect.bar').count(), 45);
    for (const [i, side] of SIDES.entries()) {
      const total = Number(await page.getAttribute(`#class-table tr.total td[data-side=${side}]`, 'data-count'));
      assert.equal(total, images[i], `${side}: table total ${total}, split ${images[i]}`);
      const bars = await numbers(page, `#class-chart svg g.class rect.bar[data-side=${side}]`, 'data-count');
      const cells = await numbers(page, `#class-table tr.class-row td[data-side=${side}]`, 'data-count');
      assert.deepEqual(bars, cells, side);
    }
    const all = await numbers(page, '#class-table tr.class-row td[data-side=all]', 'data-count');
    const sum = (await Promise.all(SIDES.map((s) => numbers(page, `#class-table tr.class-row td[data-side=${s}]`, 'data-count'))))
      .reduce((acc, col) => acc.map((v, i) => v + col[i]));
    assert.deepEqual(sum, all, 'the sides add up to all');
    assert.ok(all.some((n) => n > 0));
    // No CSP violation from inline style: the chart uses attributes and classes only.
    assert.equal(await page.locator('#data [style]').count(), 0);

    await page.screenshot({ path: join(tmpdir(), 'data.png'), fullPage: true });

    // Editing the fractions and splitting again re-splits the loaded set (no reload).
    await page.fill('#split-train', '50');
    await page.press('#split-train', 'Tab');
    await page.click('#resplit');
    await page.waitForFunction((before) => Number(document.querySelector('#split-table tr.side .images')?.textContent) !== before,
      images[0], { timeout: 30_000 });
    const resplit = (await page.locator('#split-table tr.side .images').allTextContents()).map(Number);
    assert.equal(resplit.reduce((a, b) => a + b, 0), labelled);
    assert.ok(resplit[0] < images[0], `train after 50 %: ${resplit}`);
    assert.equal(await page.getAttribute('#split-leakage', 'data-leaks'), '0');
    assert.equal(await page.locator('#resplit').count(), 0, 'the split is current again');
    assert.deepEqual(errors, []);
    assertOnlyOwnOrigin(requests, server.origin);
    assert.ok(requests.some((u) => u.endsWith('/demo/manifest.json')), 'manifest not fetched');
  } finally {
    await close();
  }
});

test('Cancel stops the demo load and keeps what was read', async () => {
  const { page, errors, close } = await openPage();
  try {
    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    await page.click('#demo-button');
    await page.waitForFunction(() => Number(document.querySelector('#load-count')?.dataset.done) >= 64,
      null, { timeout: LOAD_TIMEOUT });
    await page.click('#load-cancel');
    await page.locator('#load-cancelled').waitFor({ timeout: LOAD_TIMEOUT });
    const images = Number(await page.getAttribute('#data-summary', 'data-images'));
    assert.ok(images > 0 && images < 800, `kept ${images} images`);
    assert.equal(await page.getAttribute('#split-leakage', 'data-leaks'), '0');
    console.log(`cancelled with ${images} images kept`);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test('a picked folder with bad files lists exactly the bad ones and loads the rest', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'cxr-mix-')), 'mix');
  const { page, errors, requests, close } = await openPage();
  try {
    for (const cls of ['0_normal', '1_abnormal']) mkdirSync(join(dir, cls), { recursive: true });
    const good = [
      'train/0_normal/00000002_000.png', 'train/0_normal/00000005_000.png',
      'train/1_abnormal/00000001_000.png', 'train/1_abnormal/00000001_001.png',
    ];
    for (const file of good) {
      copyFileSync(join(DEMO, file), join(dir, file.split('/')[1], basename(file)));
    }
    const png = readFileSync(join(DEMO, good[0]));
    writeFileSync(join(dir, '1_abnormal', 'truncated.png'), png.subarray(0, Math.floor(png.length / 3)));
    writeFileSync(join(dir, '0_normal', 'paper.png'), Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n', 'latin1'));
    writeFileSync(join(dir, 'notes.txt'), 'labels are in the spreadsheet\n');

    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    await page.setInputFiles('#folder-input', dir);
    const summary = page.locator('#data-summary');
    await summary.waitFor({ timeout: LOAD_TIMEOUT });
    assert.equal(Number(await summary.getAttribute('data-images')), good.length, await summary.textContent());

    const paths = (await issuePaths(page)).sort();
    assert.deepEqual(paths, ['mix/0_normal/paper.png', 'mix/1_abnormal/truncated.png', 'mix/notes.txt']);
    for (const issue of await page.locator('li.data-issue[data-path]').allTextContents()) {
      console.log(`issue: ${issue}`);
    }
    assert.deepEqual(errors, []);
    assertOnlyOwnOrigin(requests, server.origin);
  } finally {
    await close();
    rmSync(dirname(dir), { recursive: true, force: true });
  }
});

/** The data-path of every issue line that names a file. */
function issuePaths(page) {
  return page.locator('li.data-issue[data-path]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
}
