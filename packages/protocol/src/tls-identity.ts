import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A TLS identity: what the agent's control port (or a --serve controller) presents, and the fingerprint its peer pins. */
export type TlsIdentity = { cert: string; key: string; fingerprint: string; source: 'given' | 'stored' | 'created' };

/** A self-signed certificate's lifetime: long, since what is trusted is its pinned fingerprint, not a CA. */
const SELF_SIGNED_DAYS = 3650;

/** `SHA256:AB:CD:...`, the form a controller is given with --fingerprint and keeps in its known-agents file. */
export const fingerprintOf = (certPem: string): string => `SHA256:${new X509Certificate(certPem).fingerprint256}`;

/** Where the agent keeps the certificate it made, so its fingerprint survives a restart. */
export const defaultStateDir = (): string =>
  process.platform === 'win32'
    ? path.join(process.env.ProgramData ?? os.homedir(), 'preflight-agent')
    : path.join(os.homedir(), '.preflight-agent');

/**
 * The certificate the agent serves: the one given (`--cert` and `--key`), else the one it made on
 * an earlier start, else a new self-signed one (EC P-256), stored with its key readable by the
 * agent's user only. Throws with what to fix when a given file cannot be used.
 */
export async function loadTlsIdentity(options: { certFile?: string; keyFile?: string; stateDir?: string; role?: 'agent' | 'controller' }): Promise<TlsIdentity> {
  const role = options.role ?? 'agent';
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new Error('give both --cert and --key, or neither');
    const cert = readFileSync(options.certFile, 'utf8');
    const key = readFileSync(options.keyFile, 'utf8');
    return { cert, key, fingerprint: fingerprintOf(cert), source: 'given' };
  }
  const dir = options.stateDir ?? defaultStateDir();
  const certFile = path.join(dir, `${role}-cert.pem`);
  const keyFile = path.join(dir, `${role}-key.pem`);
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    return { cert, key: readFileSync(keyFile, 'utf8'), fingerprint: fingerprintOf(cert), source: 'stored' };
  }
  const notAfterDate = new Date(Date.now() + SELF_SIGNED_DAYS * 24 * 3600 * 1000);
  // Loaded only to make a certificate, once per machine: held for the agent's whole life it would
  // cost every run about 10 MB of resident memory for code that never runs again.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: `preflight-${role} ${os.hostname()}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate,
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  writeFileSync(certFile, pems.cert);
  return { cert: pems.cert, key: pems.private, fingerprint: fingerprintOf(pems.cert), source: 'created' };
}
