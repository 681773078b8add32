import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decidePin, formatFingerprint, readKnownAgents, rememberAgents } from './known-peers.js';

const A = 'AB:CD:EF:01';
const B = 'AB:CD:EF:02';
const base = { node: 'node primary', pinFlag: '--fingerprint primary=', address: '10.1.1.11:7890', file: '/x/known-agents.json' };

describe('decidePin', () => {
  it('learns an agent met for the first time', () => {
    expect(decidePin({ ...base, seen: A })).toEqual({ ok: true, learned: true });
  });
  it('accepts the certificate it knows, and the one pinned, in any spelling', () => {
    expect(decidePin({ ...base, seen: A, known: `SHA256:${A}` })).toEqual({ ok: true, learned: false });
    expect(decidePin({ ...base, seen: A, pinned: 'sha256:abcdef01' })).toEqual({ ok: true, learned: false });
  });
  it('refuses loudly a certificate that changed, saying what to check and what to remove', () => {
    const verdict = decidePin({ ...base, seen: B, known: `SHA256:${A}` });
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.message).toMatch(/^node primary: THE AGENT'S CERTIFICATE HAS CHANGED.*SHA256:AB:CD:EF:01.*SHA256:AB:CD:EF:02.*remove "10\.1\.1\.11:7890" from \/x\/known-agents\.json or pass --fingerprint primary=SHA256:AB:CD:EF:02\.$/);
  });
  it('refuses a certificate other than the pinned one, even if the file knows it', () => {
    const verdict = decidePin({ ...base, seen: A, known: A, pinned: B });
    expect(!verdict.ok && verdict.message).toMatch(/presents certificate SHA256:AB:CD:EF:01, not SHA256:AB:CD:EF:02/);
  });
  it('formats fingerprints one way', () => expect(formatFingerprint('abcdef01')).toBe('SHA256:AB:CD:EF:01'));
});

describe('the known-agents file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'known-agents-'));
  it('starts empty, remembers agents whole, readable by its owner only', () => {
    const file = path.join(dir, 'sub', 'known-agents.json');
    expect(readKnownAgents(file).agents).toEqual({});
    rememberAgents(file, { '10.1.1.11:7890': A }, new Date('2026-11-24T10:00:00Z'));
    rememberAgents(file, { '10.1.1.12:7890': B }, new Date('2026-11-24T11:00:00Z'));
    expect(readKnownAgents(file).agents).toEqual({
      '10.1.1.11:7890': { fingerprint: `SHA256:${A}`, firstSeen: '2026-11-24T10:00:00.000Z' },
      '10.1.1.12:7890': { fingerprint: `SHA256:${B}`, firstSeen: '2026-11-24T11:00:00.000Z' },
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
  it('names a broken file', () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ not json');
    expect(() => readKnownAgents(file)).toThrow(`${file}:`);
    expect(readFileSync(file, 'utf8')).toBe('{ not json');
  });
});
