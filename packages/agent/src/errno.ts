import type { ProbeObservation } from '@preflight/protocol';

/** The OS error code of a socket error, or a stand-in when there is none. */
export const errorCode = (error: unknown): string =>
  (error as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';

/**
 * What a socket error says about the path. ECONNREFUSED is a TCP reset or an ICMP port
 * unreachable; the *UNREACH codes are the other ICMP destination-unreachable messages,
 * administratively prohibited among them; EPERM and EACCES come from the sender's own
 * firewall refusing the packet before it leaves.
 */
export function observeError(error: unknown): ProbeObservation {
  const code = errorCode(error);
  switch (code) {
    case 'ECONNREFUSED':
      return { kind: 'refused', code };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
    case 'ENONET':
      return { kind: 'unreachable', code };
    case 'EPERM':
    case 'EACCES':
      return { kind: 'local-denied', code };
    case 'ETIMEDOUT':
      return { kind: 'no-answer' };
    default:
      return { kind: 'error', code, message: (error as Error | undefined)?.message ?? String(error) };
  }
}
