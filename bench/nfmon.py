# SPDX-License-Identifier: Apache-2.0
"""nf_tables netlink monitor for the benchmarks (python3 standard library only).

NfMon() opens a NETLINK_NETFILTER socket in the calling process's network namespace, subscribes
to the multicast group NFNLGRP_NFTABLES and records every nf_tables event with its arrival time
(time.monotonic(), CLOCK_MONOTONIC, comparable across processes). It never reads the ruleset,
so the measurement does not itself take the nft table lock or dump 100,000 elements.

  mon = NfMon(); mark = mon.mark(); ...write...; t = mon.wait(pred, since=mark, timeout=60)

pred(ev) gets an Event (t, msg, family, table, name, raw) and returns True on the event wanted;
wait() returns its arrival time or None. Matching is on the raw attribute bytes (a rule's jump
target name, an element's key bytes): enough for "this chain/rule/element arrived", not a parser.
iptables-nft (iptables 1.8 nf_tables backend) chains and rules arrive as the same events; kernel
ipsets (NFNL_SUBSYS_IPSET) have no event group, so they cannot be seen here.
"""
import ctypes
import errno
import os
import socket
import struct
import threading
import time

NETLINK_NETFILTER = 12
NFNLGRP_NFTABLES = 7
NFNL_SUBSYS_NFTABLES = 10
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
MSG = {0: "newtable", 3: "newchain", 5: "delchain", 6: "newrule", 8: "delrule", 9: "newset",
       11: "delset", 12: "newsetelem", 14: "delsetelem", 15: "newgen"}
# First attribute of each message kind is the table name; the second is the chain/set name.
NAME_ATTR = {"newchain": 3, "delchain": 3, "newrule": 2, "delrule": 2, "newset": 2, "delset": 2,
             "newsetelem": 2, "delsetelem": 2}


class Event:
    __slots__ = ("t", "msg", "family", "table", "name", "raw")

    def __init__(self, t, msg, family, table, name, raw):
        self.t, self.msg, self.family, self.table, self.name, self.raw = t, msg, family, table, name, raw


def _attrs(b):
    out = {}
    i = 0
    while i + 4 <= len(b):
        ln, ty = struct.unpack_from("=HH", b, i)
        if ln < 4:
            break
        out.setdefault(ty & 0x3FFF, b[i + 4:i + ln])
        i += (ln + 3) & ~3
    return out


def _str(v):
    return v.split(b"\0", 1)[0].decode(errors="replace") if v else ""


class NfMon:
    def __init__(self, rcvbuf=256 << 20):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((0, 1 << (NFNLGRP_NFTABLES - 1)))
        self.events = []
        self.lost = 0
        self.cv = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.lost += 1
                    continue
                return
            t = time.monotonic()
            evs = []
            i = 0
            while i + 16 <= len(data):
                ln, ty, _fl, _seq, _pid = struct.unpack_from("=IHHII", data, i)
                if ln < 16:
                    break
                if ty >> 8 == NFNL_SUBSYS_NFTABLES and ln >= 20:
                    msg = MSG.get(ty & 0xFF, str(ty & 0xFF))
                    fam = data[i + 16]
                    body = data[i + 20:i + ln]
                    a = _attrs(body)
                    evs.append(Event(t, msg, fam, _str(a.get(1)), _str(a.get(NAME_ATTR.get(msg, 0))),
                                     body))
                i += (ln + 3) & ~3
            with self.cv:
                self.events.extend(evs)
                self.cv.notify_all()

    def mark(self):
        with self.cv:
            return len(self.events)

    def wait(self, pred, since=0, timeout=60.0):
        """Arrival time (time.monotonic()) of the first event at index >= since matching pred."""
        end = time.monotonic() + timeout
        i = since
        with self.cv:
            while True:
                while i < len(self.events):
                    if pred(self.events[i]):
                        return self.events[i].t
                    i += 1
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)


def setns(path):
    """Move the calling thread into the network namespace at path (e.g. /run/netns/NAME)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns " + path)
    finally:
        os.close(fd)


if __name__ == "__main__":  # debugging: print events as they arrive
    m = NfMon()
    n = 0
    while True:
        j = m.mark()
        m.wait(lambda e: True, since=n, timeout=3600)
        for e in m.events[n:m.mark()]:
            print("%.6f %s fam=%d %s %s %d bytes" % (e.t, e.msg, e.family, e.table, e.name, len(e.raw)),
                  flush=True)
        n = m.mark()
