"""The ZVT half of the independent PAYBACK till: the Austrian redemption through the card terminal.

Written from virtual-terminal/README.md ("PAYBACK redemption through the terminal", the commands
table) and conformance/README.md (`payback-terminal-redeem`, the terminal's address) with the
public ZVT framing (PA00P015: APDU = class, instruction, length — FF plus two bytes little-endian
when longer than 254 —, data; BMP 04 amount in six BCD bytes, BMP 87 receipt number in two BCD
bytes, BMP 27 result code, BMP 8A card type). Standard library only; raw APDUs over TCP.
"""

import os
import socket
from decimal import Decimal

PASSWORD = bytes.fromhex("000000")  # the terminal's default password (virtual-terminal/README.md)
PAYBACK_CARD_TYPE = 202  # "Payback without payment function"
ACK = bytes.fromhex("800000")
READ_TIMEOUT = 30.0  # bounded: the terminal's own time-outs are shorter

# Fixed-length BMPs of a Status-Information (PA00P015 ch. 3); LLVAR / LLLVAR ones below.
FIXED = {
    0x01: 1, 0x02: 1, 0x03: 1, 0x04: 6, 0x05: 1, 0x0B: 3, 0x0C: 3, 0x0D: 2, 0x0E: 2, 0x17: 2,
    0x19: 1, 0x27: 1, 0x29: 4, 0x2A: 15, 0x37: 6, 0x3A: 2, 0x3B: 8, 0x49: 2, 0x87: 2, 0x88: 3,
    0x8A: 1, 0x8C: 1, 0x9A: 0, 0xA0: 1, 0xBA: 5, 0xD0: 1, 0xD2: 1, 0xD3: 1, 0xE0: 1,
}
LLVAR = {0x22, 0x23, 0x2D, 0x8B, 0x92, 0xA7, 0xD1, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9}
LLLVAR = {0x24, 0x2E, 0x3C, 0x60, 0x9A, 0xAF}


class Aborted(Exception):
    def __init__(self, code):
        super().__init__(f"terminal aborted with result code {code}")
        self.code = code


class LinkLost(Exception):
    pass


def bcd(number, width):
    return bytes.fromhex(str(number).rjust(width * 2, "0"))


def apdu(klass, instr, data=b""):
    if len(data) < 255:
        return bytes([klass, instr, len(data)]) + data
    return bytes([klass, instr, 0xFF, len(data) & 0xFF, len(data) >> 8]) + data


class Link:
    def __init__(self, url):
        address = url[len("tcp://"):] if url.startswith("tcp://") else url
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=READ_TIMEOUT)

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

    def close(self):
        self.sock.close()


def bmps(data):
    """The BMPs of a Status-Information we understand, up to the first we do not."""
    found, i = {}, 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag == 0x06:  # TLV container, BER length
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


def run(link, command):
    """Sends a command and plays the ECR until 06 0F (returns the last Status-Information's
    BMPs) or 06 1E (raises Aborted). Every terminal message is acknowledged."""
    link.send(command)
    status = {}
    while True:
        klass, instr, data = link.receive()
        if (klass, instr) == (0x80, 0x00):
            continue  # the terminal took the command
        if klass == 0x84:
            raise Aborted(instr)  # refused outright
        if (klass, instr) == (0x04, 0x0F):
            status = bmps(data)
            link.send(ACK)
        elif (klass, instr) == (0x06, 0x0F):
            link.send(ACK)
            return status
        elif (klass, instr) == (0x06, 0x1E):
            link.send(ACK)
            raise Aborted(data[0] if data else 0)
        else:
            link.send(ACK)  # intermediate status, print lines, text blocks


def redeem(action):
    url = os.environ["POSSIM_ZVT_URL"]
    basket = int(Decimal(action["basket"]) * 100)
    link = Link(url)
    receipt = None
    try:
        # Registration: password, config byte 08 (intermediate status to the ECR), EUR.
        run(link, apdu(0x06, 0x00, PASSWORD + b"\x08" + bytes.fromhex("0978")))
        command = apdu(0x06, 0x01, b"\x04" + bcd(basket, 6) + b"\x8a" + bytes([PAYBACK_CARD_TYPE]))
        link.send(command)
        status = {}
        while True:
            klass, instr, data = link.receive()
            if (klass, instr) == (0x80, 0x00):
                continue
            if klass == 0x84:
                return {"status": "refused", "code": instr}
            if (klass, instr) == (0x04, 0x0F):
                status = bmps(data)
                if 0x87 in status and status.get(0x27, b"\x00") == b"\x00":
                    receipt = status[0x87]
                link.send(ACK)
            elif (klass, instr) == (0x06, 0x0F):
                link.send(ACK)
                break
            elif (klass, instr) == (0x06, 0x1E):
                link.send(ACK)
                return {"status": "refused", "resultCode": data[0] if data else 0}
            else:
                link.send(ACK)
    except Aborted as aborted:
        return {"status": "refused", "resultCode": aborted.code}
    except LinkLost as lost:
        link.close()
        if receipt is None:
            return {"status": "error", "message": f"terminal link lost: {lost}"}
        # The terminal reported a booking we cannot complete: reverse that receipt (06 30).
        again = Link(url)
        try:
            run(again, apdu(0x06, 0x30, PASSWORD + b"\x87" + receipt))
            note = f"reversed receipt {receipt.hex()}"
        except (Aborted, LinkLost) as error:
            note = f"reversal of receipt {receipt.hex()} failed: {error}"
        finally:
            again.close()
        return {"status": "error", "message": f"terminal link lost after the booking; {note}"}
    link.close()
    voucher = int(status[0x04].hex()) if 0x04 in status else 0
    return {
        "status": "completed",
        # 1 point = 1 euro cent (PAYBACK's programme rules, mocks/payback/README.md).
        "redeemedPoints": voucher,
        "voucherAmount": str((Decimal(voucher) / 100).quantize(Decimal("0.01"))),
        "amountDue": str((Decimal(basket - voucher) / 100).quantize(Decimal("0.01"))),
        "receipt": int(receipt.hex()) if receipt else None,
    }
