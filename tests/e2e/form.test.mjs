// End-to-end: a number being typed survives the page's renders until it is committed. yew puts a
// field's `value` back into the DOM at every render, and a field commits only on `change`, so
// a render in between (a preset chosen by script, a preview arriving) used to put the old
// number back under the cursor, and leaving the field then committed the old number. Here the
// renders are forced while focus stays in the field, and the run that follows must use the
// typed batch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openPage as open, loadDemoWithPreview } from './util.mjs';

let server;
before(async () => { server = await startServer(); });
after(() => server.close());

/** Changes a select by script, as a render source that does not take the focus. */
const setSelect = (page, selector, value) => page.evaluate(([s, v]) => {
  const select = document.querySelector(s);
  select.value = v;
  select.dispatchEvent(new Event('change', { bubbles: true }));
}, [selector, value]);

const focusedId = (page) => page.evaluate(() => document.activeElement?.id);

test('typed numbers survive renders until they are committed, and the run uses them', async () => {
  const { page, errors, close } = await open(server.origin, { webgpu: false });
  try {
    await loadDemoWithPreview(page);
    await page.selectOption('#train-side', '64');
    await page.fill('#train-epochs', '1');
    await page.press('#train-epochs', 'Tab');

    // The Train panel renders again when the augmentation changes.
    await page.fill('#train-batch', '24');
    await setSelect(page, '#augment-preset', 'complex');
    await page.waitForFunction(() => document.querySelector('#aug-rotation')?.value !== '0');
    assert.equal(await focusedId(page), 'train-batch');
    assert.equal(await page.inputValue('#train-batch'), '24', 'the typed batch is still there');
    await page.press('#train-batch', 'Tab');

    // The Augmentation panel renders again when a new preview arrives.
    const grid = () => page.locator('#preview img')
      .evaluateAll((els) => els.map((e) => e.getAttribute('src')).join());
    const before = await grid();
    await page.fill('#aug-rotation', '12');
    await page.evaluate(() => document.querySelector('#preview-shuffle').click());
    await page.waitForFunction((b) => [...document.querySelectorAll('#preview img')]
      .map((e) => e.getAttribute('src')).join() !== b, before, { timeout: 30_000 });
    assert.equal(await focusedId(page), 'aug-rotation');
    assert.equal(await page.inputValue('#aug-rotation'), '12', 'the typed rotation is still there');
    await page.press('#aug-rotation', 'Tab');
    assert.equal(await page.inputValue('#augment-preset'), 'custom', 'the rotation was committed');
    assert.equal(await page.inputValue('#aug-rotation'), '12');

    // A refused entry shows the committed value again.
    await page.fill('#train-lr', '-1');
    await page.press('#train-lr', 'Tab');
    assert.equal(await page.inputValue('#train-lr'), '0.001');

    await page.click('#train-start');
    await page.waitForFunction(
      () => Number(document.querySelector('#train-status')?.dataset.step ?? 0) >= 1,
      null, { timeout: 300_000, polling: 500 });
    assert.equal(await page.getAttribute('#train-status', 'data-batch'), '24');
    await page.click('#train-cancel');
    await page.locator('#train-result').waitFor({ timeout: 300_000 });
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
