// End-to-end: a training run survives a reload. The worker writes a checkpoint to the browser's
// own storage (OPFS) after each epoch; after a reload and the same data loaded again, the page
// offers to resume; Resume goes on from the next epoch and finishes; the checkpoint is then gone.
// On the CPU fallback (about 30 s); with CXR_E2E_WEBGPU=1 on WebGPU too (SwiftShader here, about
// 5 minutes), where every read of the checkpoint must be async.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, openPage as open } from './util.mjs';

const LOAD_TIMEOUT = 120_000;
const TRAIN_TIMEOUT = 600_000;
const EPOCHS = 3;

let server;
before(async () => { server = await startServer(); });
after(() => server.close());

async function loadDemo(page) {
  await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
  await page.click('#demo-button');
  await page.locator('#data-summary').waitFor({ timeout: LOAD_TIMEOUT });
}

const BACKENDS = process.env.CXR_E2E_WEBGPU === '1' ? [false, true] : [false];
for (const webgpu of BACKENDS) {
const backend = webgpu ? 'WebGPU' : 'CPU';
test(`reload offers resume, and the run goes on from the next epoch to the end (${backend})`, async () => {
  const { page, errors, close } = await open(server.origin, { webgpu });
  try {
    await loadDemo(page);
    await page.selectOption('#train-model', 'small');
    await page.selectOption('#train-side', '64');
    await page.fill('#train-epochs', String(EPOCHS));
    await page.press('#train-epochs', 'Tab');
    await page.click('#train-start');
    // The first epoch's checkpoint is written: reload in the middle of the run.
    const saved = page.locator('#checkpoint-saved');
    await saved.waitFor({ timeout: TRAIN_TIMEOUT });
    console.log(`${backend} checkpoint: ${await saved.getAttribute('data-bytes')} bytes in ${await saved.getAttribute('data-ms')} ms`);
    await page.reload();

    // Before the data is loaded the banner says what is missing; Resume waits for it.
    const banner = page.locator('#checkpoint-banner');
    await banner.waitFor({ timeout: 60_000 });
    const done = Number(await banner.getAttribute('data-epochs-done'));
    assert.ok(done >= 1 && done < EPOCHS, `epochs done ${done}`);
    assert.match(await banner.textContent(), new RegExp(`interrupted after epoch ${done} of ${EPOCHS}`));
    assert.ok(await page.locator('#checkpoint-resume').isDisabled(), 'resume before the data is back');
    assert.match(await page.textContent('#checkpoint-blocker'), /load the data/);

    await loadDemo(page);
    await page.locator('#checkpoint-resume:not([disabled])').waitFor({ timeout: 30_000 });
    await page.click('#checkpoint-resume');
    // It goes on from the next epoch: the validated epochs are back in the AUC curve at once,
    // and the first step reported is in epoch done + 1.
    // A step of the next epoch, not only the bar restored to where the run was.
    await page.waitForFunction(([done, epochs]) => {
      const s = document.querySelector('#train-status')?.dataset;
      return s && Number(s.step) > Number(s.total) * done / epochs;
    }, [done, EPOCHS], { timeout: TRAIN_TIMEOUT });
    const status = await page.textContent('#train-status');
    assert.match(status, new RegExp(`epoch ${done + 1} of ${EPOCHS}`), status);
    await page.locator('#train-result').waitFor({ timeout: TRAIN_TIMEOUT });
    const result = await page.textContent('#train-result');
    assert.match(result, /finished|stopped early/, result);
    assert.equal(await page.getAttribute('#auc-chart polyline.series-0', 'data-points'), String(EPOCHS));
    // Finished: the checkpoint is deleted, so a reload offers nothing.
    await page.reload();
    await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
    await page.waitForTimeout(1_000);
    assert.equal(await banner.count(), 0, 'no banner once the run finished');
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
}
