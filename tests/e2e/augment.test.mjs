// End-to-end: the Augmentation panel. The preview grid shows a demo image and 12 augmented
// versions; changing a control redraws it; horizontal flip warns about situs inversus; a pasted
// Keras call fills the controls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openPage as open, loadDemoWithPreview } from './util.mjs';

let server;
before(async () => { server = await startServer(); });
after(() => server.close());

const sources = (page) => page.locator('#preview figure.augmented img')
  .evaluateAll((els) => els.map((e) => e.getAttribute('src')));

test('the preview redraws on every change, and horizontal flip warns', async () => {
  const { page, errors, close } = await open(server.origin, { webgpu: false });
  try {
    await loadDemoWithPreview(page);
    assert.equal(await page.getAttribute('#preview', 'data-count'), '13');
    // The default is the article's "basic": normalisation only, so the grid is the image.
    assert.equal(await page.inputValue('#augment-preset'), 'basic');
    const original = await page.getAttribute('#preview figure.original img', 'src');
    assert.ok((await sources(page)).every((s) => s === original), 'basic does not move pixels');

    await page.fill('#aug-rotation', '30');
    await page.press('#aug-rotation', 'Tab');
    await page.waitForFunction((o) => [...document.querySelectorAll('#preview figure.augmented img')]
      .some((e) => e.getAttribute('src') !== o), original, { timeout: 30_000 });
    const rotated = await sources(page);
    assert.ok(new Set(rotated).size > 6, 'each version drawn on its own');
    assert.equal(await page.inputValue('#augment-preset'), 'custom');

    assert.equal(await page.locator('#hflip-warning').count(), 0, 'off by default, no warning');
    await page.check('#aug-hflip');
    await page.locator('#hflip-warning').waitFor({ timeout: 10_000 });
    assert.match(await page.textContent('#hflip-warning'), /situs inversus/);

    await page.click('#augment summary');
    await page.fill('#keras-call', 'tf.keras.preprocessing.image.ImageDataGenerator(rotation_range=5,\n  shear_range=0.02, zoom_range=0.02, samplewise_center=True)');
    await page.press('#keras-call', 'Tab');
    await page.locator('#keras-call-result.ok').waitFor({ timeout: 10_000 });
    assert.equal(await page.inputValue('#aug-rotation'), '5');
    assert.equal(await page.inputValue('#aug-shear'), '0.02');
    assert.equal(await page.isChecked('#aug-hflip'), false, 'the call has no flip');
    assert.equal(await page.locator('#hflip-warning').count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
