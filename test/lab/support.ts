import { spawnSync } from 'node:child_process';

/** Whether this machine can run the firewall lab, and if not, why. */
export type LabSupport = { ok: true } | { ok: false; why: string };

let cached: LabSupport | undefined;

function works(argv: string[]): { ok: boolean; err: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  const err = result.error ? result.error.message : (result.stderr || result.stdout || '').trim();
  return { ok: result.status === 0, err };
}

/**
 * The check itself, synchronous so that jest can decide to skip while collecting tests:
 * Linux, root, `ip netns` able to add and delete a namespace, and nftables able to make a
 * table inside it. Cached after the first call.
 */
export function labSupportSync(): LabSupport {
  if (cached) return cached;
  cached = (() => {
    if (process.platform !== 'linux') return { ok: false, why: `the lab needs Linux network namespaces (this is ${process.platform})` };
    if (process.getuid?.() !== 0) return { ok: false, why: 'the lab needs root: it creates network namespaces, veth pairs and nftables rules' };
    for (const [tool, pkg] of [['ip', 'iproute2'], ['nft', 'nftables'], ['tc', 'iproute2']] as const) {
      const probe = works([tool, tool === 'nft' ? '--version' : '-V']);
      if (!probe.ok) return { ok: false, why: `the lab needs \`${tool}\` (apt-get install ${pkg}): ${probe.err}` };
    }
    const netns = `pflprobe${process.pid}`;
    const added = works(['ip', 'netns', 'add', netns]);
    if (!added.ok) return { ok: false, why: `\`ip netns add\` does not work here: ${added.err}` };
    try {
      const table = works(['ip', 'netns', 'exec', netns, 'nft', 'add table inet pflab_probe']);
      if (!table.ok) return { ok: false, why: `nftables does not work inside a namespace here: ${table.err}` };
    } finally {
      works(['ip', 'netns', 'del', netns]);
    }
    return { ok: true };
  })();
  return cached;
}

/** Whether this machine can run the lab (root, `ip netns` works, `nft` present), and why not. */
export async function labSupport(): Promise<LabSupport> {
  return labSupportSync();
}

/**
 * `describe` for tests that need the lab. When the lab cannot run here, the tests skip with a
 * console message saying why; but when `process.env.CI` is set they fail with the reason
 * instead, because CI must never silently skip the lab.
 */
export function describeLab(title: string, body: () => void): void {
  const support = labSupportSync();
  if (support.ok) {
    describe(title, body);
  } else if (process.env.CI) {
    describe(title, () => {
      it('has the firewall lab (CI must run it)', () => {
        throw new Error(`the firewall lab cannot run in CI: ${support.why}`);
      });
    });
  } else {
    console.warn(`skipping firewall lab tests "${title}": ${support.why}`);
    describe.skip(title, body);
  }
}
