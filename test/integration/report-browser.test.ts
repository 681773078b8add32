import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderHtml, sampleReport } from '@preflight/controller';
import { Browser, chromiumMissing } from '../support/chromium.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-browser-'));

/** `describe` for the browser: without Chromium it skips saying why; in CI it fails instead. */
function describeBrowser(title: string, body: () => void): void {
  if (!chromiumMissing) return describe(title, body);
  if (process.env.CI) return describe(title, () => it('runs in CI', () => { throw new Error(`the browser test cannot run in CI: ${chromiumMissing}`); }));
  console.warn(`skipping ${title}: ${chromiumMissing}`);
  describe.skip(title, body);
}

describeBrowser('the HTML report in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await Browser.launch();
  }, 30_000);
  afterAll(() => browser?.close());

  it('loads with no request but itself, shows every check, and the blocked one before the matrix', async () => {
    const report = sampleReport();
    const file = path.join(scratch, 'report.html');
    writeFileSync(file, renderHtml(report));
    const url = pathToFileURL(file).href;
    const page = await browser.open(url);
    expect(page.requests()).toEqual([url]);
    const keys = await page.evaluate<string[]>("[...document.querySelectorAll('[data-key]')].map((element) => element.dataset.key)");
    expect(keys.sort()).toEqual(report.checks.map((check) => check.key).sort());
    const failureFirst = await page.evaluate<boolean>(
      "!!(document.querySelector('[data-failure=\"primary->secondary/tcp/29002\"]').compareDocumentPosition(document.getElementById('matrix')) & Node.DOCUMENT_POSITION_FOLLOWING)",
    );
    expect(failureFirst).toBe(true);
    const remediation = await page.evaluate<string>("document.querySelector('[data-failure] pre').textContent");
    expect(remediation).toContain('New-NetFirewallRule');
    writeFileSync(path.join(scratch, 'report.png'), await page.screenshot());
  }, 30_000);
});
