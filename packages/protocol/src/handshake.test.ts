import {
  makeNonce,
  makeRunKey,
  parseTcpProbeLine,
  parseUdpProbeDatagram,
  tcpAnswerLine,
  tcpProbeLine,
  udpAnswerDatagram,
  udpProbeDatagram,
  verifyTcpAnswer,
  verifyUdpAnswer,
} from './handshake.js';

describe('probe handshake', () => {
  const runKey = makeRunKey();
  const nonce = makeNonce();

  it('accepts the answer of a listener that holds the run key', () => {
    expect(parseTcpProbeLine(tcpProbeLine(nonce))).toBe(nonce);
    expect(verifyTcpAnswer(runKey, 1801, nonce, tcpAnswerLine(runKey, 1801, nonce))).toBe(true);
  });

  it.each([
    ['another run', () => tcpAnswerLine(makeRunKey(), 1801, nonce)],
    ['another port', () => tcpAnswerLine(runKey, 1802, nonce)],
    ['another nonce', () => tcpAnswerLine(runKey, 1801, makeNonce())],
    ['an echo of the probe', () => tcpProbeLine(nonce)],
    ['a banner', () => 'SSH-2.0-OpenSSH_9.2\r\n'],
    ['nothing', () => ''],
  ])('refuses an answer from %s', (_label, answer) => {
    expect(verifyTcpAnswer(runKey, 1801, nonce, answer())).toBe(false);
  });

  it('reports only the UDP probes of its own run and port', () => {
    expect(parseUdpProbeDatagram(runKey, 3527, udpProbeDatagram(runKey, 3527, nonce))).toBe(nonce);
    expect(parseUdpProbeDatagram(runKey, 3527, udpProbeDatagram(makeRunKey(), 3527, nonce))).toBeNull();
    expect(parseUdpProbeDatagram(runKey, 3528, udpProbeDatagram(runKey, 3527, nonce))).toBeNull();
    expect(parseUdpProbeDatagram(runKey, 3527, Buffer.alloc(2000, 'A'))).toBeNull();
  });

  it('verifies a UDP answer only for its own nonce', () => {
    const answer = udpAnswerDatagram(runKey, 3527, nonce);
    expect(verifyUdpAnswer(runKey, 3527, nonce, answer)).toBe(true);
    expect(verifyUdpAnswer(runKey, 3527, makeNonce(), answer)).toBe(false);
  });
});
