#!/usr/bin/env python3
"""An independent ZVT cash register (ECR) for possim's `exec` driver.

Written from the published contract only — conformance/README.md (the exec driver, the `zvt-*`
actions and results, the terminal addresses), virtual-terminal/README.md (links, commands,
unattended issue of goods) and the public ZVT framing (PA00P015 APDUs and BMPs, PA00P016 serial
frames) — never from possim's Rust code, so that `possim certify conformance/zvt-ecr --driver
exec -- python3 zvt_ecr.py` proves a vendor can pass the suite from the documents. Standard
library only.

The action arrives on stdin (also in POSSIM_ACTION); the ECR prints one JSON result line.
"""

import json
import os
import select
import socket
import sys
import termios
import time
import tty
from decimal import Decimal

PASSWORD = bytes.fromhex("000000")  # the terminal's default password
ACK_APDU = bytes.fromhex("800000")
T4 = 180.0  # PA00P016: the longest pause between two terminal messages
DLE, STX, ETX, ACK, NAK = 0x10, 0x02, 0x03, 0x06, 0x15

FIXED = {
    0x01: 1, 0x02: 1, 0x03: 1, 0x04: 6, 0x05: 1, 0x0B: 3, 0x0C: 3, 0x0D: 2, 0x0E: 2, 0x17: 2,
    0x19: 1, 0x27: 1, 0x29: 4, 0x2A: 15, 0x37: 6, 0x3A: 2, 0x3B: 8, 0x49: 2, 0x87: 2, 0x88: 3,
    0x8A: 1, 0x8C: 1, 0xA0: 1, 0xBA: 5, 0xD0: 1, 0xD2: 1, 0xD3: 1, 0xE0: 1,
}
LLVAR = {0x22, 0x23, 0x2D, 0x8B, 0x92, 0xA7, 0xD1, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9,
         0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8}
LLLVAR = {0x24, 0x2E, 0x3C, 0x60, 0x9A, 0xAF}


class LinkLost(Exception):
    pass


def bcd(number, width):
    return bytes.fromhex(str(number).rjust(width * 2, "0"))


def cents(text):
    return int(Decimal(text) * 100)


def euros(value):
    return str((Decimal(value) / 100).quantize(Decimal("0.01")))


def apdu(klass, instr, data=b""):
    if len(data) < 255:
        return bytes([klass, instr, len(data)]) + data
    # Extended length: FF, then the length low byte first.
    return bytes([klass, instr, 0xFF, len(data) & 0xFF, len(data) >> 8]) + data


def llvar(tag, text):
    n = len(text)
    return bytes([tag, 0xF0 | n // 10, 0xF0 | n % 10]) + text


def bmps(data):
    found, i = {}, 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag == 0x06:
            length = data[i]
            i += 1
            if length & 0x80:
                count = length & 0x7F
                length = int.from_bytes(data[i:i + count], "big")
                i += count
        elif tag in LLVAR:
            length = (data[i] & 0x0F) * 10 + (data[i + 1] & 0x0F)
            i += 2
        elif tag in LLLVAR:
            length = (data[i] & 0x0F) * 100 + (data[i + 1] & 0x0F) * 10 + (data[i + 2] & 0x0F)
            i += 3
        elif tag in FIXED:
            length = FIXED[tag]
        else:
            break
        found[tag] = data[i:i + length]
        i += length
    return found


class TcpLink:
    """ZVT over LAN: raw APDUs back to back."""

    def __init__(self, url):
        address = url[len("tcp://"):] if url.startswith("tcp://") else url
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=T4)
        self.first = True

    def exact(self, n):
        data = b""
        while len(data) < n:
            try:
                chunk = self.sock.recv(n - len(data))
            except OSError as error:
                raise LinkLost(str(error))
            if not chunk:
                raise LinkLost("the terminal closed the link")
            data += chunk
        return data

    def receive(self):
        if self.first:
            # A terminal with the Yomani quirk (virtual-terminal README, quirk profiles) sends a
            # banner before any ZVT: four-byte big-endian length, then text. No APDU starts 00 00.
            self.first = False
            start = self.exact(2)
            if start == b"\x00\x00":
                length = int.from_bytes(start + self.exact(2), "big")
                self.exact(length)
                head = self.exact(3)
            else:
                head = start + self.exact(1)
        else:
            head = self.exact(3)
        length = head[2]
        if length == 0xFF:
            low, high = self.exact(2)
            length = low | high << 8
        return head[0], head[1], self.exact(length)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise LinkLost(str(error))


def crc_kermit(data):
    """CRC-16/KERMIT (PA00P016 §3): polynomial 1021 reflected, initial value 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


class SerialLink:
    """ZVT over a serial line (PA00P016 §3): DLE STX <APDU, DLE doubled> DLE ETX CRClo CRChi;
    every frame is answered ACK or NAK; a NAKed or unacknowledged frame is sent again, twice at
    most."""

    T1, T2 = 0.2, 5.0

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def byte(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        data = os.read(self.fd, 1)
        if not data:
            raise LinkLost("the serial line closed")
        return data[0]

    def send(self, data):
        escaped = data.replace(bytes([DLE]), bytes([DLE, DLE]))
        crc = crc_kermit(data + bytes([ETX]))
        frame = bytes([DLE, STX]) + escaped + bytes([DLE, ETX, crc & 0xFF, crc >> 8])
        for _ in range(3):
            os.write(self.fd, frame)
            answer = self.byte(self.T2)
            # Some terminals acknowledge with DLE ACK instead of ACK (quirk profile dle-ack).
            if answer == DLE:
                answer = self.byte(self.T1)
            if answer == ACK:
                return
        raise LinkLost("the terminal did not acknowledge a frame three times")

    def receive(self):
        while True:
            deadline = time.monotonic() + T4
            # Wait for DLE STX.
            previous = None
            while True:
                b = self.byte(max(0.0, deadline - time.monotonic()))
                if b is None:
                    raise LinkLost("no frame from the terminal")
                if previous == DLE and b == STX:
                    break
                previous = b
            body, ok = bytearray(), True
            while True:
                b = self.byte(self.T1 * 5)
                if b is None:
                    ok = False
                    break
                if b == DLE:
                    nxt = self.byte(self.T1 * 5)
                    if nxt == DLE:
                        body.append(DLE)
                    elif nxt == ETX:
                        break
                    else:
                        ok = False
                        break
                else:
                    body.append(b)
            if ok:
                lo, hi = self.byte(self.T1 * 5), self.byte(self.T1 * 5)
                ok = lo is not None and hi is not None and (lo | hi << 8) == crc_kermit(bytes(body) + bytes([ETX]))
            os.write(self.fd, bytes([ACK if ok else NAK]))
            if ok and len(body) >= 3:
                data = bytes(body)
                length, start = data[2], 3
                if length == 0xFF:
                    length, start = data[3] | data[4] << 8, 5
                return data[0], data[1], data[start:start + length]


class Aborted(Exception):
    def __init__(self, code):
        super().__init__(f"aborted with result code {code}")
        self.code = code


class Refused(Exception):
    def __init__(self, code):
        super().__init__(f"refused with 84 {code:02X}")
        self.code = code


def transact(link, command, goods=None):
    """Sends a command and plays the ECR until 06 0F (returns the last approving
    Status-Information's BMPs) or 06 1E (raises Aborted). `goods` answers an approving
    Status-Information as an unattended machine: a function of how many came before, giving the
    APDU to answer (None: answer nothing)."""
    link.send(command)
    status, approvals = {}, 0
    while True:
        klass, instr, data = link.receive()
        if (klass, instr) == (0x80, 0x00):
            continue
        if klass == 0x84:
            raise Refused(instr)
        if (klass, instr) == (0x04, 0x0F):
            fields = bmps(data)
            approving = fields.get(0x27, b"\x00") == b"\x00"
            if approving:
                status = fields
            if approving and goods is not None:
                answer = goods(approvals)
                approvals += 1
                if answer is not None:
                    link.send(answer)
            else:
                link.send(ACK_APDU)
        elif (klass, instr) == (0x06, 0x0F):
            link.send(ACK_APDU)
            return status
        elif (klass, instr) == (0x06, 0x1E):
            link.send(ACK_APDU)
            raise Aborted(data[0] if data else 0)
        else:
            link.send(ACK_APDU)  # intermediate status, print lines, text blocks


def goods_answers(mode):
    """The unattended machine's answers to the approving Status-Informations (issueGoods)."""
    if mode == "ok":
        return lambda n: ACK_APDU
    if mode.startswith("later:"):
        times = int(mode.split(":", 1)[1])
        return lambda n: bytes.fromhex("849C00") if n < times else ACK_APDU
    if mode.startswith("partial:"):
        issued = cents(mode.split(":", 1)[1])
        return lambda n: apdu(0x84, 0x9D, b"\x04" + bcd(issued, 6)) if n == 0 else ACK_APDU
    if mode == "fail":
        return lambda n: bytes.fromhex("846600")  # 84 yy: nothing issued
    if mode == "silent":
        return lambda n: None
    raise ValueError(f"issueGoods {mode!r}")


def open_link(action):
    if action.get("link") == "serial":
        return SerialLink(os.environ["POSSIM_ZVT_SERIAL_URL"])
    return TcpLink(os.environ["POSSIM_ZVT_URL"])


def register(link):
    # Password, config byte 08 (intermediate status to the ECR), currency EUR.
    transact(link, apdu(0x06, 0x00, PASSWORD + b"\x08" + bytes.fromhex("0978")))


def completed(status):
    return {
        "status": "completed",
        "amount": euros(int(status[0x04].hex())) if 0x04 in status else None,
        "receipt": int(status[0x87].hex()) if 0x87 in status else None,
    }


def perform(action):
    kind = action["type"]
    link = open_link(action)
    register(link)
    if kind == "zvt-pay":
        data = b"\x04" + bcd(cents(action["amount"]), 6)
        goods = None
        if action.get("issueGoods"):
            data += b"\x01" + bytes([int(action.get("goodsTimeout", 30))])
            if action.get("maxStatusInfos") is not None:
                data += b"\x02" + bytes([int(action["maxStatusInfos"])])
            goods = goods_answers(action["issueGoods"])
        return completed(transact(link, apdu(0x06, 0x01, data), goods))
    if kind == "zvt-pre-auth":
        reserved = transact(link, apdu(0x06, 0x22, b"\x04" + bcd(cents(action["amount"]), 6)))
        receipt = reserved[0x87]
        booked = transact(link, apdu(0x06, 0x24, b"\x87" + receipt + b"\x04" + bcd(cents(action["book"]), 6)))
        return completed(booked)
    if kind == "zvt-end-of-day":
        transact(link, apdu(0x06, 0x50, PASSWORD))
        return {"status": "completed"}
    if kind == "zvt-display-text":
        data = b""
        for i, line in enumerate(action["lines"][:8]):
            data += llvar(0xF1 + i, line.encode("cp437", "replace"))
        transact(link, apdu(0x06, 0xE0, data))
        return {"status": "completed"}
    return {"status": "error", "message": f"unknown action {kind}"}


def main():
    text = sys.stdin.read() or os.environ.get("POSSIM_ACTION", "")
    action = json.loads(text)
    try:
        result = perform(action)
    except Aborted as aborted:
        result = {"status": "aborted", "resultCode": aborted.code}
    except Refused as refused:
        result = {"status": "refused", "code": refused.code}
    except (LinkLost, OSError) as lost:
        result = {"status": "error", "message": str(lost)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
