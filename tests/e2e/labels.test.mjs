// End-to-end: the label choices. CheXpert's uncertain labels change meaning when the user picks
// U-Ignore / U-Zeros / U-Ones, without loading the images again; findings left out disappear
// from the class chart and come back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT, startServer, openPage as open, assertOnlyOwnOrigin } from './util.mjs';

const CHEXPERT = join(ROOT, 'tests', 'fixtures', 'chexpert_excerpt.csv');
const PNG = join(ROOT, 'www', 'demo', 'nih800', 'train', '0_normal', '00000002_000.png');
const LOAD_TIMEOUT = 120_000;

let server;
before(async () => { server = await startServer(); });
after(() => server.close());

const openPage = () => open(server.origin, { webgpu: false });

/** The count of one finding over all labelled images, from the class table. */
async function allCount(page, finding) {
  return Number(await page.getAttribute(`#class-table tr.class-row[data-class="${finding}"] td[data-side=all]`, 'data-count'));
}

test('CheXpert uncertain labels follow the chosen policy without reloading the images', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cxr-chexpert-'));
  const dir = join(root, 'chexpert');
  const { page, errors, requests, close } = await openPage();
  try {
    const csv = readFileSync(CHEXPERT, 'utf8');
    const [header, ...rows] = csv.trim().split('\n').map((l) => l.split(','));
    const edema = header.indexOf('Edema');
    // The independent answer, read off the CSV: Edema present (1.0) and uncertain (-1.0).
    const present = rows.filter((r) => r[edema] === '1.0').length;
    const uncertain = rows.filter((r) => r[edema] === '-1.0').length;
    assert.ok(uncertain > 0, 'the excerpt has uncertain Edema labels');
    // Images at the CSV's paths (PNG bytes under .jpg names: the content picks the decoder);
    // distinct bytes per image so none is taken for a copy of another.
    const png = readFileSync(PNG);
    rows.forEach((r, i) => {
      const path = join(dir, r[0].replace(/^CheXpert-v1.0-small\//, ''));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, Buffer.concat([png, Buffer.from([i & 255, i >> 8])]));
    });
    writeFileSync(join(dir, 'train.csv'), csv);

    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    assert.equal(await page.inputValue('#uncertain-select'), 'ignore', 'U-Ignore by default');
    await page.setInputFiles('#folder-input', dir);
    const summary = page.locator('#data-summary');
    await summary.waitFor({ timeout: LOAD_TIMEOUT });
    assert.equal(Number(await summary.getAttribute('data-labelled')), rows.length, await summary.textContent());
    assert.equal(await allCount(page, 'Edema'), present);

    const waitForEdema = (n) => page.waitForFunction((n) => Number(document.querySelector(
      '#class-table tr.class-row[data-class="Edema"] td[data-side=all]')?.dataset.count) === n, n, { timeout: 30_000 });
    await page.selectOption('#uncertain-select', 'positive');
    await waitForEdema(present + uncertain);
    await page.selectOption('#uncertain-select', 'negative');
    await waitForEdema(present);
    // Still the same images, not a reload.
    assert.equal(Number(await summary.getAttribute('data-images')), rows.length);
    assert.deepEqual(errors, []);
    assertOnlyOwnOrigin(requests, server.origin);
  } finally {
    await close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('findings left out leave the class chart and come back', async () => {
  const { page, errors, close } = await openPage();
  try {
    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    await page.click('#demo-button');
    await page.locator('#data-summary').waitFor({ timeout: LOAD_TIMEOUT });
    const groups = page.locator('#class-chart svg g.class');
    assert.equal(await groups.count(), 15);
    const hernia = await allCount(page, 'Hernia');

    await page.uncheck('#findings input[data-finding="Hernia"]');
    await page.uncheck('#findings input[data-finding="Pleural_Thickening"]');
    await page.waitForFunction(() => document.querySelectorAll('#class-chart svg g.class').length === 13,
      null, { timeout: 30_000 });
    assert.equal(await page.locator('#class-table tr.class-row[data-class="Hernia"]').count(), 0);
    assert.match(await page.textContent('#findings legend'), /12 of 14/);

    await page.check('#findings input[data-finding="Hernia"]');
    await page.waitForFunction(() => document.querySelectorAll('#class-chart svg g.class').length === 14,
      null, { timeout: 30_000 });
    assert.equal(await allCount(page, 'Hernia'), hernia, 'the same count as before');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
