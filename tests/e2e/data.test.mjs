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

test('dropping a folder walks it, sub-folders and >100 entries included, and lists exactly the bad files', async () => {
  const { page, errors, requests, close } = await openPage();
  try {
    const png = readFileSync(join(DEMO, 'train/0_normal/00000002_000.png'));
    const other = readFileSync(join(DEMO, 'train/1_abnormal/00000001_000.png'));
    // 120 normals in one folder: Chromium's readEntries gives at most 100 a call, so the walk
    // has to call it again. Distinct names (one patient each), the same bytes.
    const tree = { 'dropped/0_normal': [], 'dropped/1_abnormal/deeper': [] };
    for (let i = 0; i < 120; i++) {
      tree['dropped/0_normal'].push([`${String(10000 + i).padStart(8, '0')}_000.png`, png.toString('base64')]);
    }
    tree['dropped/1_abnormal/deeper'].push(['00000001_000.png', other.toString('base64')]);
    tree['dropped/1_abnormal/deeper'].push(['00000001_001.png', Buffer.concat([other, Buffer.from([0])]).toString('base64')]);
    tree['dropped/1_abnormal/deeper'].push(['cut.png', other.subarray(0, 200).toString('base64')]);
    tree['dropped/0_normal'].push(['report.png', Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\n').toString('base64')]);
    const expectedImages = 122;

    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    // A drop of one folder. Script cannot make a DataTransfer that holds a folder, so the
    // entries API (webkitGetAsEntry, createReader, readEntries, file) is given fake entries over
    // real File objects that behave as Chromium's do: readEntries hands out at most 100 a call,
    // then an empty batch.
    await page.evaluate((tree) => {
      const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dirs = new Map();
      const dirEntry = (path) => {
        if (!dirs.has(path)) {
          const name = path.split('/').pop();
          const children = [];
          dirs.set(path, {
            isFile: false, isDirectory: true, name, fullPath: `/${path}`, children,
            createReader() {
              let at = 0;
              return {
                readEntries(ok) {
                  const batch = children.slice(at, at + 100);
                  at += batch.length;
                  setTimeout(() => ok(batch), 0);
                },
              };
            },
          });
          const parent = path.split('/').slice(0, -1).join('/');
          if (parent) dirEntry(parent).children.push(dirs.get(path));
        }
        return dirs.get(path);
      };
      for (const [dir, files] of Object.entries(tree)) {
        for (const [name, b64] of files) {
          const file = new File([bytes(b64)], name, { type: 'image/png' });
          dirEntry(dir).children.push({
            isFile: true, isDirectory: false, name, fullPath: `/${dir}/${name}`,
            file(ok) { setTimeout(() => ok(file), 0); },
          });
        }
      }
      const root = dirEntry('dropped');
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(1)], 'dropped'));
      const real = DataTransferItem.prototype.webkitGetAsEntry;
      DataTransferItem.prototype.webkitGetAsEntry = function () {
        DataTransferItem.prototype.webkitGetAsEntry = real;
        return root;
      };
      const zone = document.querySelector('#drop-zone');
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, tree);

    const summary = page.locator('#data-summary');
    await summary.waitFor({ timeout: LOAD_TIMEOUT });
    assert.equal(Number(await summary.getAttribute('data-images')), expectedImages, await summary.textContent());
    assert.equal(Number(await summary.getAttribute('data-labelled')), expectedImages);
    assert.equal(await page.getAttribute('#load-count', 'data-total'), String(expectedImages + 2));
    assert.deepEqual((await issuePaths(page)).sort(),
      ['dropped/0_normal/report.png', 'dropped/1_abnormal/deeper/cut.png']);
    // Every image got its label from its folder, the deeper one included.
    const total = Number(await page.getAttribute('#class-table tr.total td[data-side=all]', 'data-count'));
    assert.equal(total, expectedImages);
    assert.deepEqual(errors, []);
    assertOnlyOwnOrigin(requests, server.origin);
  } finally {
    await close();
  }
});

/** The data-path of every issue line that names a file. */
function issuePaths(page) {
  return page.locator('li.data-issue[data-path]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
}
