import { makeNonce, type ProbeOrder } from '@preflight/protocol';
import { fileLimit, openFiles, probeConcurrency, listenCapacity } from './file-budget.js';

const order = (protocol: ProbeOrder['protocol'], method: ProbeOrder['method'], timeoutMs = 3000): ProbeOrder => ({
  key: 'k', protocol, method, host: 'h', port: 1, nonce: makeNonce(), timeoutMs,
});
const many = (count: number, make: () => ProbeOrder) => Array.from({ length: count }, make);

describe('probeConcurrency', () => {
  it('runs every probe at once when the files allow', () => {
    expect(probeConcurrency(4096, many(1024, () => order('tcp', 'handshake')), 20000, 300)).toBe(1024);
  });

  it('lowers it to the free files: a TCP probe can hold a socket per half second of its timeout', () => {
    // 20000 files, 16700 open (listeners), 256 kept free: 3044 left, 7 sockets a 3 s TCP probe.
    expect(probeConcurrency(4096, many(16384, () => order('tcp', 'handshake')), 20000, 16700)).toBe(434);
    expect(probeConcurrency(4096, many(16384, () => order('udp', 'handshake')), 20000, 16700)).toBe(3044);
  });

  it('never goes above what the controller allows, nor below one', () => {
    expect(probeConcurrency(50, many(1024, () => order('udp', 'handshake')), 20000, 0)).toBe(50);
    expect(probeConcurrency(4096, many(10, () => order('tcp', 'handshake')), 1024, 1020)).toBe(1);
  });

  it('reads this process\'s limit and open files on Linux', () => {
    if (process.platform !== 'linux') return;
    expect(fileLimit()).toBeGreaterThan(0);
    expect(openFiles()).toBeGreaterThan(2);
  });
});

describe('listenCapacity', () => {
  it.each([
    ['a 20000-file limit holds the whole dynamic range (16384) and keeps 2048 for probes', 19_700, Infinity, 17_652],
    ['a small limit keeps half for probes', 1000, Infinity, 500],
    ['--max-listeners lowers it', 19_700, 50, 50],
    ['no limit the OS tells (Windows): the dynamic range in TCP and UDP', null, Infinity, 32_768],
    ['--max-listeners lowers the Windows ceiling too', null, 20, 20],
    ['a huge limit still fits one listen request', 1_000_000, Infinity, 70_000],
    ['an agent out of files still takes one at a time', 0, Infinity, 1],
  ])('%s', (_label, headroom, max, expected) => {
    expect(listenCapacity(max, headroom)).toBe(expected);
  });
});
