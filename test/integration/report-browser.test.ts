import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderHtml, sampleReport } from '@preflight/controller';
import { Browser, chromiumMissing, type Page } from '../support/chromium.js';

/**
 * How long the page must stay quiet after loading and printing: anything it would still fetch
 * (a lazy resource, a print-only one) asks within milliseconds of layout, so 300 ms is ample.
 */
const QUIET_MS = 300;

/**
 * The keys of every `[data-key]` the page does not show under the media it is laid out for: not
 * rendered (display, visibility, opacity, a closed <details>, content-visibility) or of no size.
 */
const UNSHOWN_KEYS = `[...document.querySelectorAll('[data-key]')]
  .filter((element) => {
    const box = element.getBoundingClientRect();
    return !element.checkVisibility({ opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true }) || box.width === 0 || box.height === 0;
  })
  .map((element) => element.dataset.key)`;

/** `describe` for the browser: without Chromium it skips saying why; in CI it fails instead. */
function describeBrowser(title: string, body: () => void): void {
  if (!chromiumMissing) return describe(title, body);
  if (process.env.CI) return describe(title, () => it('runs in CI', () => { throw new Error(`the browser test cannot run in CI: ${chromiumMissing}`); }));
  console.warn(`skipping ${title}: ${chromiumMissing}`);
  describe.skip(title, body);
}

describeBrowser('the HTML report in headless Chromium', () => {
  const report = sampleReport();
  const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-browser-'));
  const file = path.join(scratch, 'report.html');
  const url = pathToFileURL(file).href;
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    writeFileSync(file, renderHtml(report));
    browser = await Browser.launch();
    page = await browser.open(url);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('asks for nothing but the file itself, on screen or in print', async () => {
    // Printing lays the page out for paper and a screenshot paints it: whatever either would load shows up as a request.
    expect((await page.printToPdf()).subarray(0, 5).toString()).toBe('%PDF-');
    expect((await page.screenshot()).subarray(1, 4).toString()).toBe('PNG');
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    expect(page.requests()).toEqual([url]);
    // A second witness, from inside the page: its own record of every resource it fetched.
    expect(await page.evaluate<number>("performance.getEntriesByType('resource').length")).toBe(0);
  }, 30_000);

  it('has every check of the report in the DOM, by its key', async () => {
    const keys = await page.evaluate<string[]>("[...document.querySelectorAll('[data-key]')].map((element) => element.dataset.key)");
    expect(keys.sort()).toEqual(report.checks.map((check) => check.key).sort());
  });

  it('shows every check on screen, the open ports of a range too', async () => {
    expect(await page.evaluate<boolean>("matchMedia('print').matches")).toBe(false);
    expect(await page.evaluate<number>("document.querySelectorAll('[data-key]').length")).toBe(report.checks.length);
    expect(await page.evaluate<string[]>(UNSHOWN_KEYS)).toEqual([]);
    // The fixture's range is what puts more than one check in a cell; without it this proves little.
    expect(report.checks.filter((check) => check.requirement === 'site-range')).toHaveLength(8);
  });

  it('prints every check: laid out for print, each one shows, and the PDF is made from that layout', async () => {
    await page.emulateMedia('print');
    try {
      expect(await page.evaluate<boolean>("matchMedia('print').matches")).toBe(true);
      expect(await page.evaluate<string[]>(UNSHOWN_KEYS)).toEqual([]);
      expect((await page.printToPdf()).subarray(0, 5).toString()).toBe('%PDF-');
    } finally {
      await page.emulateMedia('screen');
    }
  }, 30_000);

  it('shows the blocked check, with its fix, before the matrix', async () => {
    const failureFirst = await page.evaluate<boolean>(
      "!!(document.querySelector('[data-failure=\"primary->secondary/tcp/29002\"]').compareDocumentPosition(document.getElementById('matrix')) & Node.DOCUMENT_POSITION_FOLLOWING)",
    );
    expect(failureFirst).toBe(true);
    const remediation = await page.evaluate<string>("document.querySelector('[data-failure=\"primary->secondary/tcp/29002\"] pre').textContent");
    expect(remediation).toContain('New-NetFirewallRule');
    expect(remediation).toContain('-LocalPort 29002');
  });
});
