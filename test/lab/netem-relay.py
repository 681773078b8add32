#!/usr/bin/env python3
"""The firewall lab's stand-in for netem's delay, on a kernel built without sch_netem.

The router's nftables egress chain on a host's link forwards every frame that would leave on it
(`fwd to "CAPTURE"`) to a veth of its own instead. This relay reads those frames off CAPTURE
(as they leave it: already segmented and checksummed, since CAPTURE has its offloads off) and,
DELAY_MS later, sends each out of LINK with socket mark MARK, which the egress chain lets pass.
So the host receives everything the router sends it DELAY_MS late, as with netem on the
router's side of the link. Frames never leave the router's namespace except onto LINK.

It exits when its standard input closes, so it cannot outlive the process that started it.

usage: netem-relay.py CAPTURE LINK DELAY_MS MARK
"""
import heapq
import os
import socket
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_MARK = 36


def main():
    capture, link, delay_ms, mark = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4], 0)
    delay = delay_ms / 1000
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    rx.bind((capture, 0))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
    tx.bind((link, 0))

    queue = []  # (due, sequence, frame): a heap, in order of arrival for equal delays
    ready = threading.Condition()

    def send_when_due():
        while True:
            with ready:
                while not queue:
                    ready.wait()
                wait = queue[0][0] - time.monotonic()
                if wait > 0:
                    ready.wait(wait)
                    continue
                _, _, frame = heapq.heappop(queue)
            try:
                tx.send(frame)
            except OSError as error:  # a frame the link cannot take is lost, as on a wire
                print(f"netem-relay: send on {link}: {error}", file=sys.stderr, flush=True)

    def exit_with_parent():
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=send_when_due, daemon=True).start()
    threading.Thread(target=exit_with_parent, daemon=True).start()
    print(f"netem-relay ready: {capture} -> {link}, {delay_ms} ms", flush=True)
    sequence = 0
    while True:
        frame, address = rx.recvfrom(65535)
        if address[2] != PACKET_OUTGOING:
            continue
        sequence += 1
        with ready:
            heapq.heappush(queue, (time.monotonic() + delay, sequence, frame))
            ready.notify()


if __name__ == "__main__":
    main()
