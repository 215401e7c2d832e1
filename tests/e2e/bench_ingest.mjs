// Benchmark (prints figures, asserts nothing): ingest rate and peak tab memory for N generated
// 1024² 8-bit grey PNGs picked as a folder, in headless Chromium on the release build in dist/.
//   node tests/e2e/bench_ingest.mjs [count=1000] [side=1024]
// Memory is the peak resident size of Chromium's renderer processes (page + its worker),
// sampled every 250 ms with ps: what the tab costs the machine.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { openPage, startServer } from './util.mjs';

const COUNT = Number(process.argv[2] ?? 1000);
const SIDE = Number(process.argv[3] ?? 1024);
const DISTINCT = 20; // distinct images, each written under COUNT / DISTINCT names

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
/** A chest-like grey image: smooth structure plus noise, so it compresses like a real one. */
function greyPng(seed) {
  const raw = Buffer.alloc(SIDE * (SIDE + 1));
  let s = seed * 2654435761 >>> 0;
  for (let y = 0; y < SIDE; y++) {
    raw[y * (SIDE + 1)] = 0; // filter: none
    for (let x = 0; x < SIDE; x++) {
      s = (s * 1664525 + 1013904223) >>> 0;
      const v = 120 + 70 * Math.sin((x + seed * 13) / 90) * Math.cos(y / 110) + ((s >>> 24) % 16) - 8;
      raw[y * (SIDE + 1) + 1 + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(SIDE, 0);
  ihdr.writeUInt32BE(SIDE, 4);
  ihdr[8] = 8; ihdr[9] = 0; // 8-bit grey
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function rendererRssKb() {
  const out = execFileSync('ps', ['-eo', 'rss=,args='], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('--type=renderer'))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0] || 0), 0);
}

const root = mkdtempSync(join(tmpdir(), 'cxr-bench-'));
const dir = join(root, `gen${SIDE}`);
let bytes = 0;
const images = Array.from({ length: DISTINCT }, (_, i) => greyPng(i + 1));
for (const cls of ['0_normal', '1_abnormal']) mkdirSync(join(dir, cls), { recursive: true });
for (let i = 0; i < COUNT; i++) {
  const png = images[i % DISTINCT];
  bytes += png.length;
  writeFileSync(join(dir, i % 2 ? '1_abnormal' : '0_normal', `img_${String(i).padStart(5, '0')}.png`), png);
}
console.log(`generated ${COUNT} PNGs of ${SIDE}² (${(bytes / 2 ** 20).toFixed(0)} MiB)`);

const server = await startServer();
const { page, close } = await openPage(server.origin, { webgpu: false });
let peakKb = 0;
try {
  await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
  const baselineKb = rendererRssKb();
  const sampler = setInterval(() => { peakKb = Math.max(peakKb, rendererRssKb()); }, 250);
  const started = Date.now();
  await page.setInputFiles('#folder-input', dir);
  await page.locator('#data-summary').waitFor({ timeout: 1_800_000 });
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  console.log(`page says: ${await page.textContent('#load-status')}`);
  console.log(`wall: ${seconds.toFixed(1)} s, ${(COUNT / seconds).toFixed(1)} images/s end to end`);
  console.log(`renderer memory: ${(baselineKb / 1024).toFixed(0)} MiB before, peak ${(peakKb / 1024).toFixed(0)} MiB`);
} finally {
  await close();
  server.close();
  rmSync(root, { recursive: true, force: true });
}
