#!/usr/bin/env python3
"""An independent Loymax cash-register client (XML exchange protocol 3.2) that drives possim's
Loymax mock.

Written from the protocol notes (shared/specs/loymax-tyrios.md, part 1) and possim's published
contract for the mock (devices, data sets, the signature design), not from the mock's Rust code,
so that it cross-checks the mock instead of mirroring it:

- One POST of an XML document per call to /XmlExchange/<project>/<device login>/ with HTTP Basic
  auth; business outcomes come back with HTTP 200 in the per-element ErrorCode, document-level
  failures (parse, version, signature) in the envelope ErrorCode (spec 1.3, 1.8).
- Error numbers follow the spec's numbering hypothesis (1.8): business errors from 201 in the
  declaration order of the error enum, the eight protocol errors 1-8 (our design).
- A purchase is two-phase (1.7): calculate, payment (points held at once), discount, then confirm
  or cancel; an OperationID sent again with the same body gets the stored answer byte for byte.
- The signature (1.9, our design): RSA PKCS#1 v1.5 with SHA-256 over the exact body bytes, Base64
  in the X-Signature header, both directions. RSA is done here with Python integers so that the
  client needs nothing beyond the standard library.

Usage:
  loymax_client.py --url http://127.0.0.1:PORT --check seed-log|purchase|errors|signature ...

Prints one line per check and exits with status 1 on the first failed check.
"""

import argparse
import base64
import hashlib
import re
import sys
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from decimal import Decimal

HTTP_TIMEOUT = 15.0

# Spec 1.8: the hypothesis table (business errors) and our design (protocol errors 1-8).
PARSE_ERROR = 3
SIGNATURE_ERROR = 6
SIGNATURE_NOT_FOUND = 7
NOT_UNIQUE_OPERATION_ID = 207
PURCHASE_NOT_FOUND = 216
INCORRECT_OPERATION_ORDER = 218

# The 2018 Set Retail log (spec, appendix): the request bytes exactly as the till sent them.
LOG_BALANCE_REQUEST = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLRequest><Version>3.2</Version>'
    '<Balances><BalanceRequest OperationID="accb084000e94e9cabdcbffd77920415" '
    'OperationDate="2018-10-02T13:32:02.107+03:00" ElementID="1"><Identifier Type="Auto" '
    'Value="8690003"/></BalanceRequest></Balances></XMLRequest>'
)
LOG_BALANCE_RESPONSE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLResponse><ErrorCode>0</ErrorCode>'
    '<Balances><BalanceResponse BonusAmount="12405.67" Currency="RUB" '
    'OperationID="accb084000e94e9cabdcbffd77920415" ErrorCode="0"><IdentifierData>'
    '<Item Name="Holder">Иван Рюрик</Item><Item Name="CardType">Loymax/Gold</Item>'
    '<Item Name="MaskedNumber">8690003</Item></IdentifierData></BalanceResponse></Balances>'
    '</XMLResponse>'
)
LOG_CALCULATE_REQUEST = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><XMLRequest><Version>3.2</Version>'
    '<Calculates><CalculateRequest PurchaseID="71090611538476325251" '
    'OperationID="a0cdc3e8f8734725a6215b687bc165db" OperationDate="2018-10-02T13:32:05.251+03:00" '
    'ElementID="1"><Cheque ChequeDate="2018-10-02T13:32:01.575+03:00"><ChequeLine PosID="344" '
    'Amount="200.00" Name="Товар SR1460" GoodsId="146001" Price="100.00" Quantity="2.000"/>'
    '</Cheque><Identifier Type="Auto" Value="8690003"/></CalculateRequest></Calculates></XMLRequest>'
)


class CheckFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


# --- RSA PKCS#1 v1.5 / SHA-256 with integers -------------------------------------------------

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _der_read(data, pos):
    """One DER TLV at pos: (tag, value bytes, position after it)."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    return tag, data[pos : pos + length], pos + length


def _der_sequence(data):
    tag, body, _ = _der_read(data, 0)
    check(tag == 0x30, "DER: expected a SEQUENCE")
    items, pos = [], 0
    while pos < len(body):
        tag, value, pos = _der_read(body, pos)
        items.append((tag, value))
    return items


def _pem_der(text):
    lines = [l for l in text.strip().splitlines() if not l.startswith("-----")]
    label = re.search(r"-----BEGIN ([A-Z ]+)-----", text).group(1)
    return label, base64.b64decode("".join(lines))


def load_private_key(path):
    """(n, d) from a PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") PEM file."""
    label, der = _pem_der(open(path, encoding="ascii").read())
    items = _der_sequence(der)
    if label == "PRIVATE KEY":  # PKCS#8: version, algorithm, OCTET STRING(PKCS#1 key)
        items = _der_sequence(items[2][1])
    n = int.from_bytes(items[1][1], "big")
    d = int.from_bytes(items[3][1], "big")
    return n, d


def load_public_key(path):
    """(n, e) from an SPKI ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY") PEM file."""
    label, der = _pem_der(open(path, encoding="ascii").read())
    items = _der_sequence(der)
    if label == "PUBLIC KEY":  # SPKI: algorithm, BIT STRING(0 unused bits, PKCS#1 key)
        items = _der_sequence(items[1][1][1:])
    return int.from_bytes(items[0][1], "big"), int.from_bytes(items[1][1], "big")


def _encoded_digest(body, size):
    digest = SHA256_DIGEST_INFO + hashlib.sha256(body).digest()
    return b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest


def sign(body, key):
    n, d = key
    size = (n.bit_length() + 7) // 8
    m = int.from_bytes(_encoded_digest(body, size), "big")
    return base64.b64encode(pow(m, d, n).to_bytes(size, "big")).decode("ascii")


def verify(body, signature_b64, key):
    n, e = key
    size = (n.bit_length() + 7) // 8
    s = int.from_bytes(base64.b64decode(signature_b64), "big")
    return pow(s, e, n).to_bytes(size, "big") == _encoded_digest(body, size)


# --- the exchange ----------------------------------------------------------------------------


class Till:
    def __init__(self, url, project, device, password, sign_key=None, verify_key=None):
        self.endpoint = f"{url.rstrip('/')}/XmlExchange/{project}/{device}/"
        self.device = device
        self.auth = "Basic " + base64.b64encode(f"{device}:{password}".encode()).decode("ascii")
        self.sign_key = sign_key
        self.verify_key = verify_key

    def post_raw(self, body, auth=None, signature=None, sign=True):
        """Sends body bytes; returns (status, headers, response bytes)."""
        headers = {"Content-Type": "application/xml; charset=utf-8", "Authorization": auth or self.auth}
        if signature is not None:
            headers["X-Signature"] = signature
        elif sign and self.sign_key is not None:
            headers["X-Signature"] = globals()["sign"](body, self.sign_key)
        request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def post(self, body):
        status, headers, answer = self.post_raw(body)
        check(status == 200, f"HTTP {status} for a well-formed request: {answer[:200]!r}")
        if self.verify_key is not None:
            signature = headers.get("X-Signature")
            check(signature, "the answer carries no X-Signature")
            check(verify(answer, signature, self.verify_key), "the answer's X-Signature does not verify")
        return answer

    def call(self, wrapper, element, attributes, children=""):
        """One singular request in its plural wrapper; returns (envelope, element) of the answer."""
        attrs = dict(attributes)
        attrs.setdefault("OperationID", uuid.uuid4().hex)
        attrs.setdefault("OperationDate", "2018-10-02T14:00:00+03:00")
        attrs.setdefault("ElementID", "1")
        attrs.setdefault("DeviceLogicalID", self.device)
        rendered = " ".join(f'{k}="{xml_escape(v)}"' for k, v in attrs.items())
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><XMLRequest><Version>3.2</Version><{wrapper}>'
            f"<{element} {rendered}>{children}</{element}></{wrapper}></XMLRequest>"
        ).encode("utf-8")
        answer = self.post(body)
        return body, answer, response_element(answer, wrapper, element.replace("Request", "Response"))


def xml_escape(value):
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def response_element(answer, wrapper, element):
    root = ET.fromstring(answer)
    check(root.tag == "XMLResponse", f"root is {root.tag}, not XMLResponse")
    check(root.findtext("ErrorCode") == "0", f"envelope ErrorCode {root.findtext('ErrorCode')}: {answer[:300]!r}")
    found = root.find(f"{wrapper}/{element}")
    check(found is not None, f"no {wrapper}/{element} in {answer[:300]!r}")
    return found


def envelope_code(answer):
    root = ET.fromstring(answer)
    check(root.tag == "XMLResponse", f"root is {root.tag}, not XMLResponse")
    return int(root.findtext("ErrorCode"))


def element_code(element):
    return int(element.get("ErrorCode"))


def canonical(element):
    """An element as a comparable tree: tag, sorted attributes, stripped text, children in order."""
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        (element.text or "").strip(),
        tuple(canonical(child) for child in element),
    )


def identifier(card):
    return f'<Identifier Type="Auto" Value="{card}"/>'


def cheque(lines, date="2018-10-02T14:00:00+03:00"):
    rendered = "".join(
        f'<ChequeLine PosID="{i + 1}" GoodsId="{goods}" Name="Artikel {goods}" Price="{price}" '
        f'Quantity="{qty}" Amount="{amount}"/>'
        for i, (goods, price, qty, amount) in enumerate(lines)
    )
    return f'<Cheque ChequeNumber="1" ChequeDate="{date}">{rendered}</Cheque>'


def balance(till, card):
    _, _, element = till.call("Balances", "BalanceRequest", {}, identifier(card))
    check(element_code(element) == 0, f"balance of {card}: ErrorCode {element.get('ErrorCode')}")
    return Decimal(element.get("BonusAmount"))


def two_places(text):
    return re.fullmatch(r"-?\d+\.\d{2}", text or "") is not None


# --- checks ----------------------------------------------------------------------------------


def check_seed_log(till):
    status, _, answer = till.post_raw(LOG_BALANCE_REQUEST.encode("utf-8"))
    check(status == 200, f"log BalanceRequest: HTTP {status}")
    got = canonical(ET.fromstring(answer))
    expected = canonical(ET.fromstring(LOG_BALANCE_RESPONSE.encode("utf-8")))
    check(got == expected, f"log BalanceResponse differs:\n got      {got}\n expected {expected}")
    print("ok: the 2018 log's BalanceRequest gets the log's BalanceResponse")

    status, _, answer = till.post_raw(LOG_CALCULATE_REQUEST.encode("utf-8"))
    check(status == 200, f"log CalculateRequest: HTTP {status}")
    element = response_element(answer, "Calculates", "CalculateResponse")
    check(element_code(element) == 0, f"log CalculateRequest: ErrorCode {element.get('ErrorCode')}")
    check(element.get("OperationID") == "a0cdc3e8f8734725a6215b687bc165db", "OperationID not echoed")
    lines = element.findall("Cheque/ChequeLine")
    check([l.get("PosID") for l in lines] == ["344"], f"answered lines {[l.get('PosID') for l in lines]}")
    print("ok: the 2018 log's CalculateRequest is answered for line PosID=344")


def check_purchase(till, card, pay):
    """calculate -> payment -> discount -> confirm, a replayed payment, a cancel that restores."""
    lines = [("146001", "100.00", "2.000", "200.00"), ("146002", "19.99", "1.000", "19.99")]
    start = balance(till, card)

    purchase = uuid.uuid4().hex
    scope = {"PurchaseID": purchase, "Cashier": "Ivanova"}
    _, _, calc = till.call("Calculates", "CalculateRequest", scope, cheque(lines) + identifier(card))
    check(element_code(calc) == 0, f"calculate: ErrorCode {calc.get('ErrorCode')}")
    available = Decimal(calc.get("AvailableBonusAmount"))
    check(available >= pay, f"calculate offers only {available} points to write off, need {pay}")
    for name in ("Balance", "AvailableAmount", "AvailableBonusAmount"):
        check(two_places(calc.get(name)), f"CalculateResponse {name}={calc.get(name)!r} is not money with two places")

    payment_attrs = dict(scope, Amount=f"{pay}", OperationID=uuid.uuid4().hex)
    body, first, paid = till.call("Payments", "PaymentRequest", payment_attrs, cheque(lines) + identifier(card))
    check(element_code(paid) == 0, f"payment: ErrorCode {paid.get('ErrorCode')} {paid.get('ErrorMessage')}")
    check(Decimal(paid.get("BonusAmount")) == pay, f"payment wrote off {paid.get('BonusAmount')}, asked {pay}")
    check(balance(till, card) == start - pay, "the held points are not taken off the balance at once")
    print(f"ok: payment of {pay} points holds them at once")

    again = till.post(body)
    check(again == first, "a replayed OperationID with the same body did not get the stored answer byte for byte")
    check(balance(till, card) == start - pay, "a replayed payment held the points twice")
    changed = body.replace(f'Amount="{pay}"'.encode(), f'Amount="{pay - 1}"'.encode())
    check(changed != body, "test bug: could not change the replayed body")
    element = response_element(till.post(changed), "Payments", "PaymentResponse")
    check(element_code(element) == NOT_UNIQUE_OPERATION_ID, f"same OperationID, other body: ErrorCode {element.get('ErrorCode')}")
    print("ok: a replayed OperationID is idempotent, a reused one with another body is refused")

    _, _, disc = till.call("Discounts", "DiscountRequest", scope, cheque(lines) + identifier(card))
    check(element_code(disc) == 0, f"discount: ErrorCode {disc.get('ErrorCode')} {disc.get('ErrorMessage')}")
    accrued = sum((Decimal(l.get("Cashback", "0")) for l in disc.findall("Cheque/ChequeLine")), Decimal(0))
    _, _, conf = till.call("ConfirmPurchases", "ConfirmPurchaseRequest", {"PurchaseID": purchase})
    check(element_code(conf) == 0, f"confirm: ErrorCode {conf.get('ErrorCode')}")
    end = balance(till, card)
    check(end == start - pay + accrued, f"after confirm the balance is {end}, expected {start} - {pay} + {accrued}")
    print(f"ok: confirmed purchase: balance {start} -> {end} (paid {pay}, accrued {accrued})")

    _, _, late = till.call("CancelPurchases", "CancelPurchaseRequest", scope)
    check(element_code(late) == INCORRECT_OPERATION_ORDER, f"cancel after confirm: ErrorCode {late.get('ErrorCode')}")
    print("ok: cancel after confirm is refused as IncorrectOperationOrder")

    start = end
    purchase = uuid.uuid4().hex
    scope = {"PurchaseID": purchase, "Cashier": "Ivanova"}
    till.call("Calculates", "CalculateRequest", scope, cheque(lines) + identifier(card))
    _, _, paid = till.call("Payments", "PaymentRequest", dict(scope, Amount=f"{pay}"), cheque(lines) + identifier(card))
    check(element_code(paid) == 0, f"second payment: ErrorCode {paid.get('ErrorCode')}")
    check(balance(till, card) == start - pay, "second payment: points not held")
    _, _, cancel = till.call("CancelPurchases", "CancelPurchaseRequest", scope)
    check(element_code(cancel) == 0, f"cancel: ErrorCode {cancel.get('ErrorCode')}")
    check(balance(till, card) == start, "a cancel did not restore the balance")
    print("ok: a cancelled purchase gives the held points back")

    _, _, unknown = till.call("ConfirmPurchases", "ConfirmPurchaseRequest", {"PurchaseID": uuid.uuid4().hex})
    check(element_code(unknown) == PURCHASE_NOT_FOUND, f"confirm of an unknown purchase: ErrorCode {unknown.get('ErrorCode')}")
    print("ok: confirm of an unknown purchase is PurchaseNotFound (216)")


def check_errors(till):
    status, _, answer = till.post_raw(b'<?xml version="1.0"?><XMLRequest><Version>3.2</Version><Balances>')
    check(status == 200, f"malformed XML: HTTP {status}")
    check(envelope_code(answer) == PARSE_ERROR, f"malformed XML: envelope ErrorCode {envelope_code(answer)}")
    print("ok: malformed XML gets the envelope ParseError")

    status, _, answer = till.post_raw(LOG_BALANCE_REQUEST.encode(), auth="Basic " + base64.b64encode(b"nobody:wrong").decode())
    check(status == 401 and answer == b"", f"wrong credentials: HTTP {status} with {len(answer)} body bytes")
    print("ok: wrong credentials get 401 with an empty body")


def check_signature(till):
    body = LOG_BALANCE_REQUEST.encode("utf-8")
    status, _, answer = till.post_raw(body, sign=False)
    check(status == 200, f"unsigned: HTTP {status}")
    check(envelope_code(answer) == SIGNATURE_NOT_FOUND, f"unsigned request: envelope ErrorCode {envelope_code(answer)}")
    print("ok: an unsigned request to a signing device is SignatureNotFound")

    good = sign(body, till.sign_key)
    status, _, answer = till.post_raw(body + b" ", signature=good)
    check(envelope_code(answer) == SIGNATURE_ERROR, f"signature over other bytes: envelope ErrorCode {envelope_code(answer)}")
    print("ok: a signature over other bytes is SignatureError")

    answer = till.post(body)  # signed by post_raw, the answer's signature verified by post
    check(envelope_code(answer) == 0, f"signed request: envelope ErrorCode {envelope_code(answer)}")
    print("ok: a signed request is answered with a verifiable signature")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the mock's base URL, http://127.0.0.1:PORT")
    parser.add_argument("--check", required=True, choices=["seed-log", "purchase", "errors", "signature"])
    parser.add_argument("--project", default="possim")
    parser.add_argument("--device", default="kassa-1")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--card", default="8690003")
    parser.add_argument("--pay", default="50.00", help="points to write off in the purchase check")
    parser.add_argument("--sign-key", help="the device's private key (PEM) to sign requests")
    parser.add_argument("--verify-key", help="processing's public key (PEM) to verify answers")
    args = parser.parse_args()

    till = Till(
        args.url,
        args.project,
        args.device,
        args.password,
        sign_key=load_private_key(args.sign_key) if args.sign_key else None,
        verify_key=load_public_key(args.verify_key) if args.verify_key else None,
    )
    try:
        if args.check == "seed-log":
            check_seed_log(till)
        elif args.check == "purchase":
            check_purchase(till, args.card, Decimal(args.pay))
        elif args.check == "errors":
            check_errors(till)
        else:
            check(till.sign_key is not None, "--check signature needs --sign-key")
            check_signature(till)
    except CheckFailed as failure:
        print(f"FAILED: {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
