import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { makeNonce, type ProbeOrder } from '@preflight/protocol';
import { probeTarget } from './probe-target.js';

const HOST = '127.0.0.1';
const signal = new AbortController().signal;
const order = (protocol: 'tcp' | 'udp', method: ProbeOrder['method'], port: number): ProbeOrder => ({
  key: `a->t/${protocol}/${port}`,
  protocol,
  method,
  host: HOST,
  port,
  nonce: makeNonce(),
  timeoutMs: 600,
});

/** A DNS server that answers every query REFUSED, as a locked-down resolver would. */
const refuse = (query: Buffer) => {
  const { id, questions } = dnsPacket.decode(query);
  return dnsPacket.encode({ type: 'response', id, flags: 5, questions }); // rcode 5: REFUSED
};

async function udpServer(answer: (request: Buffer) => Buffer | null): Promise<{ port: number; close(): void }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (request, peer) => {
    const reply = answer(request);
    if (reply) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  return { port: socket.address().port, close: () => socket.close() };
}

async function tcpServer(handler: (socket: net.Socket) => void): Promise<{ port: number; close(): void }> {
  // Probes close with a reset: a server of ours must expect ECONNRESET.
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    handler(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

describe('probes of targets that run no agent, over real sockets', () => {
  it('takes any DNS response to its own query as an answer, over UDP', async () => {
    const server = await udpServer(refuse);
    try {
      expect((await probeTarget(order('udp', 'dns', server.port), signal)).observation).toEqual({ kind: 'answered', what: 'DNS answered (REFUSED)' });
    } finally {
      server.close();
    }
  });

  it('asks DNS over TCP with the length prefix', async () => {
    const server = await tcpServer((socket) =>
      socket.on('data', (data: Buffer) => {
        const reply = refuse(data.subarray(2));
        const length = Buffer.alloc(2);
        length.writeUInt16BE(reply.length);
        socket.end(Buffer.concat([length, reply]));
      }),
    );
    try {
      expect((await probeTarget(order('tcp', 'dns', server.port), signal)).observation).toEqual({ kind: 'answered', what: 'DNS answered (REFUSED)' });
    } finally {
      server.close();
    }
  });

  it('accepts an NTP answer only when it echoes the request\'s timestamp', async () => {
    const answer = (echo: boolean) => (request: Buffer) => {
      const reply = Buffer.alloc(48);
      reply[0] = 0x24; // version 4, mode 4 (server)
      reply[1] = 2;
      if (echo) request.copy(reply, 24, 40, 48);
      return reply;
    };
    const good = await udpServer(answer(true));
    const forged = await udpServer(answer(false));
    try {
      expect((await probeTarget(order('udp', 'ntp', good.port), signal)).observation).toEqual({ kind: 'answered', what: 'NTP answered (stratum 2)' });
      expect((await probeTarget(order('udp', 'ntp', forged.port), signal)).observation).toEqual({ kind: 'no-answer' });
    } finally {
      good.close();
      forged.close();
    }
  });

  it('sees a closed DNS port as refused, and a TCP service as a connection', async () => {
    const closed = await udpServer(() => null);
    closed.close();
    expect((await probeTarget(order('udp', 'dns', closed.port), signal)).observation).toMatchObject({ kind: 'refused' });
    const sql = await tcpServer((socket) => socket.end());
    try {
      expect((await probeTarget(order('tcp', 'connect', sql.port), signal)).observation).toEqual({ kind: 'answered', what: 'connection accepted' });
    } finally {
      sql.close();
    }
  });
});
