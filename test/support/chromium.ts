import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';

/** Debian's Chromium (`apt-get install chromium`), which `.ci/run` installs. */
export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export const chromiumMissing: string | null = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium)`;

type Event = { method: string; params: Record<string, unknown>; sessionId?: string };

/**
 * Headless Chromium driven over the DevTools protocol with the `ws` package: enough to open a page,
 * see every request it makes, and ask the DOM questions. No browser download, no extra package.
 */
export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: Record<string, unknown>) => void; reject: (error: Error) => void }>();
  readonly events: Event[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly ws: WebSocket,
    private readonly profileDir: string,
  ) {
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { id?: number; result?: Record<string, unknown>; error?: { message: string } } & Event;
      if (message.id !== undefined) {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(message.error.message));
        else waiter?.resolve(message.result ?? {});
      } else this.events.push(message);
    });
    // A browser that goes away fails what waits on it at once, not at the test's timeout.
    ws.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error('chromium closed the DevTools connection'));
      this.pending.clear();
    });
  }

  static async launch(): Promise<Browser> {
    const profileDir = mkdtempSync(path.join(tmpdir(), 'preflight-chromium-'));
    // The flags the machine's own probe uses: no background traffic, which this closed network refuses.
    const child = spawn(CHROMIUM, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profileDir}`, '--remote-debugging-port=0', 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    try {
      const endpoint = await new Promise<string>((resolve, reject) => {
        let output = '';
        // Chromium starts in a second or two; 20 s allows a loaded CI machine's first start.
        const timer = setTimeout(() => reject(new Error(`chromium did not start in 20 s: ${output}`)), 20_000);
        child.stderr!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const found = output.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
          if (found) {
            clearTimeout(timer);
            resolve(found);
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`chromium exited (${code}): ${output}`));
        });
      });
      const ws = new WebSocket(endpoint);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      return new Browser(child, ws, profileDir);
    } catch (error) {
      await killGroup(child);
      removeProfile(profileDir);
      throw error;
    }
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** Opens `url` in a new tab with the network watched; resolves once the page has loaded. */
  async open(url: string): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    await this.send('Network.enable', {}, sessionId);
    await this.send('Page.enable', {}, sessionId);
    const loaded = this.waitFor((event) => event.method === 'Page.loadEventFired' && event.sessionId === sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    await loaded;
    return new Page(this, sessionId);
  }

  async waitFor(match: (event: Event) => boolean, ms = 15_000): Promise<Event> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error('chromium: the awaited event never came');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /**
   * Quits the browser and removes its profile. Chromium is asked to quit first, so that it ends its
   * own helpers (renderer, GPU, crashpad) which would otherwise go on writing into the profile while
   * it is being removed; whatever is left of the process group we started is then killed.
   */
  async close(): Promise<void> {
    const exited = exitOf(this.child);
    await Promise.race([this.send('Browser.close').catch(() => {}), delay(5_000)]);
    await Promise.race([exited, delay(5_000)]);
    this.ws.terminate();
    await killGroup(this.child);
    removeProfile(this.profileDir);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Kills the browser's process group (it was started as its leader) and waits for the browser to go. */
async function killGroup(child: ChildProcess): Promise<void> {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // the group is already gone
  }
  await exitOf(child);
}

/** A helper that has only just died may still have a file open: removal retries rather than fail. */
function removeProfile(profileDir: string): void {
  rmSync(profileDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
}

export class Page {
  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
  ) {}

  /** Every URL the page asked for, itself included. */
  requests(): string[] {
    return this.browser.events
      .filter((event) => event.method === 'Network.requestWillBeSent' && event.sessionId === this.sessionId)
      .map((event) => (event.params.request as { url: string }).url);
  }

  async evaluate<T>(expression: string): Promise<T> {
    const { result } = (await this.browser.send('Runtime.evaluate', { expression, returnByValue: true }, this.sessionId)) as { result: { value: T } };
    return result.value;
  }

  /** Lays the page out for `print` (or `screen`), so the DOM can be asked what paper would show. */
  async emulateMedia(media: 'print' | 'screen'): Promise<void> {
    await this.browser.send('Emulation.setEmulatedMedia', { media }, this.sessionId);
  }

  /** The page as Chromium prints it (print media, A4), which lays out anything only print would load. */
  async printToPdf(): Promise<Buffer> {
    const { data } = (await this.browser.send('Page.printToPDF', { paperWidth: 8.27, paperHeight: 11.69 }, this.sessionId)) as { data: string };
    return Buffer.from(data, 'base64');
  }

  async screenshot(): Promise<Buffer> {
    const { data } = (await this.browser.send('Page.captureScreenshot', { format: 'png' }, this.sessionId)) as { data: string };
    return Buffer.from(data, 'base64');
  }
}
