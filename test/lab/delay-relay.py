#!/usr/bin/env python3
"""A slow wire for the firewall lab: copies every Ethernet frame between two interfaces after a
fixed delay, each way. The kernel here has no sch_netem, so latency is made in user space.

usage: delay-relay.py IFACE_A IFACE_B DELAY_MS
"""
import collections
import socket
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # frames this relay itself sent: never copy them back


def open_raw(ifname):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, 0))
    return sock


def pump(src, dst, delay):
    queue = collections.deque()
    ready = threading.Condition()

    def send_when_due():
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, frame = queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                continue
            with ready:
                queue.popleft()
            try:
                dst.send(frame)
            except OSError:
                pass  # a frame the far side cannot take is a lost frame, as on a wire

    threading.Thread(target=send_when_due, daemon=True).start()
    while True:
        frame, address = src.recvfrom(65535)
        if address[2] == PACKET_OUTGOING:
            continue
        with ready:
            queue.append((time.monotonic() + delay, frame))
            ready.notify()


def main():
    a, b, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    side_a, side_b = open_raw(a), open_raw(b)
    print(f"relaying {a} <-> {b} with {delay_ms} ms each way", flush=True)
    threading.Thread(target=pump, args=(side_a, side_b, delay_ms / 1000), daemon=True).start()
    pump(side_b, side_a, delay_ms / 1000)


if __name__ == "__main__":
    main()
