#!/usr/bin/env python3
"""An independent ZVT-over-TLS ECR: Python's standard `ssl` module, written from PA00P015/
PA00P016 and the ECR-interface TLS option, not from possim's Rust code.

    zvt_tls_client.py HOST PORT CA_PEM SERVER_NAME [CLIENT_PEM CLIENT_KEY]

Checks that a context without the CA refuses the terminal (the chain is really verified), then
registers (06 00) and pays 12.50 EUR (06 01) over a verified TLS connection, acknowledging every
terminal message with 80 00 00. Prints one JSON line: the TLS version, the peer certificate's
subject, and every terminal APDU in hex.
"""
import json
import socket
import ssl
import sys


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the terminal closed the connection")
        data += chunk
    return data


def read_apdu(sock):
    # PA00P016 §2.2: CLASS INSTR LEN, and LEN = FF announces a two-byte little-endian length.
    head = read_exact(sock, 3)
    length = head[2]
    ext = b""
    if length == 0xFF:
        ext = read_exact(sock, 2)
        length = ext[0] | ext[1] << 8
    return head + ext + read_exact(sock, length)


def transaction(sock, command):
    """Sends a command, collects the terminal's messages up to 06 0F / 06 1E."""
    sock.sendall(command)
    seen = []
    first = read_apdu(sock)
    seen.append(first.hex())
    if first[:2] != b"\x80\x00":
        return seen
    while True:
        apdu = read_apdu(sock)
        seen.append(apdu.hex())
        sock.sendall(bytes([0x80, 0x00, 0x00]))
        if apdu[:2] in (b"\x06\x0f", b"\x06\x1e"):
            return seen


def main():
    host, port, ca, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    client = sys.argv[5:7]

    # Without our CA the default trust store must refuse possim's test certificate.
    refused = None
    try:
        with socket.create_connection((host, port), timeout=10) as raw:
            with ssl.create_default_context().wrap_socket(raw, server_hostname=name):
                refused = False
    except ssl.SSLCertVerificationError as e:
        refused = e.verify_message

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if client:
        context.load_cert_chain(client[0], client[1])
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            peer = dict(x[0] for x in tls.getpeercert()["subject"])
            # Registration: password 000000 (BCD), config byte 08 (intermediate status), EUR.
            registration = transaction(tls, bytes.fromhex("0600 06 000000 08 0978".replace(" ", "")))
            # Authorisation: BMP 04 amount 12.50 as 6 BCD bytes (PA00P015 §2.1, §3).
            payment = transaction(tls, bytes.fromhex("0601 07 04 000000001250".replace(" ", "")))
            print(json.dumps({
                "refusedWithoutCa": refused,
                "version": tls.version(),
                "peer": peer,
                "registration": registration,
                "payment": payment,
            }))


if __name__ == "__main__":
    main()
