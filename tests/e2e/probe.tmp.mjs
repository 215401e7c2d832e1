import { startServer, openPage } from '/work/main/tests/e2e/util.mjs';
const server = await startServer();
const { page, errors, close } = await openPage(server.origin, { webgpu: process.argv[2] === 'gpu' });
await page.locator('#backend[data-backend]').waitFor({ timeout: 60000 });
await page.click('#demo-button');
await page.locator('#data-summary').waitFor({ timeout: 120000 });
await page.selectOption('#train-model', 'small');
await page.selectOption('#train-side', '64');
await page.fill('#train-epochs', '1'); await page.press('#train-epochs', 'Tab');
const t0 = Date.now();
await page.click('#train-start');
for (let i = 0; i < 30; i++) {
  await page.waitForTimeout(10000);
  const s = await page.locator('#train-status').textContent().catch(() => '?');
  const r = await page.locator('#train-result').textContent().catch(() => '');
  console.log(((Date.now()-t0)/1000).toFixed(0), s, r, errors.slice(0,2));
  if (r) break;
}
await close(); server.close();
