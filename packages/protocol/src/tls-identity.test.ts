import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fingerprintOf, loadTlsIdentity } from './tls-identity.js';

describe('the agent\'s TLS identity', () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'agent-tls-'));

  it('makes a self-signed certificate once, keeps its key private, and presents the same one after a restart', async () => {
    const first = await loadTlsIdentity({ stateDir });
    expect(first.source).toBe('created');
    expect(first.fingerprint).toMatch(/^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(statSync(path.join(stateDir, 'agent-key.pem')).mode & 0o777).toBe(0o600);
    const again = await loadTlsIdentity({ stateDir });
    expect(again).toMatchObject({ source: 'stored', fingerprint: first.fingerprint });
  });

  it('uses a certificate given to it, and wants both halves', async () => {
    const made = await loadTlsIdentity({ stateDir: mkdtempSync(path.join(tmpdir(), 'agent-tls-')) });
    const certFile = path.join(stateDir, 'given-cert.pem');
    const keyFile = path.join(stateDir, 'given-key.pem');
    writeFileSync(certFile, made.cert);
    writeFileSync(keyFile, made.key);
    expect(await loadTlsIdentity({ certFile, keyFile })).toMatchObject({ source: 'given', fingerprint: fingerprintOf(made.cert) });
    await expect(loadTlsIdentity({ certFile })).rejects.toThrow('give both --cert and --key');
  });
});
