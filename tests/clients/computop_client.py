#!/usr/bin/env python3
"""An independent Computop Paygate client (PAYBACK PAY) that drives possim's Computop mock.

Written from the protocol notes (shared/specs/computop-payback.md section 1 and the PAYBACK PAY
seed), not from the mock's Rust code, so that it cross-checks the mock instead of mirroring it:

- Data: Blowfish-ECB with the merchant's password, hex, or AES-CBC as hex(iv)-hex(ct) with
  PKCS#7; Len is the plain text's length before padding and the receiver cuts there.
- MAC: uppercase HMAC-SHA256 over PayID*TransID*MerchantID*Amount*Currency (requests) and over
  PayID*TransID*mid*Status*Code (answers, notifies, browser returns).
- Only Code=00000000 is success; the intermediate PAYBACK PAY notify has Status=AUTHORIZE_REQUEST
  and the one-character Code "0", which is not a payment.

Uses pycryptodome and the standard library only. The shop's URLNotify/URLSuccess/URLFailure run
on an http.server bound to 127.0.0.1:0 in a thread.

Usage: computop_client.py --paygate http://127.0.0.1:PORT --admin http://127.0.0.1:PORT

Prints one line per check and exits with status 1 on the first failed check.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from Crypto.Cipher import AES, Blowfish
except ImportError:  # pragma: no cover - reported to the Rust test, which fails with this text
    sys.stderr.write("pycryptodome is missing: pip install pycryptodome\n")
    sys.exit(3)

# The default data set's merchants and member (mocks/datasets/default/computop.toml).
BF_MERCHANT = {"id": "your_merchant_id", "hmac": "mySecret", "cipher": "blowfish", "key": "16CharKeyLength!"}
AES_MERCHANT = {
    "id": "possim_aes_shop",
    "hmac": "possimHmacSecret",
    "cipher": "aes",
    "key": "0123456789abcdef0123456789abcdef",
}
ACCOUNT_ID = "9876543210"
CUSTOMER_ID = "9530c279-f13d-41db-b6a4-19488541bee9"

SUCCESS = "00000000"
WAIT_SECONDS = 20.0
HTTP_TIMEOUT = 15.0


class CheckFailed(Exception):
    pass


def check(condition, message, detail=""):
    """One line per check; the first failure ends the run."""
    if not condition:
        raise CheckFailed(message + (f": {detail}" if detail else ""))
    print(f"ok   {message}", flush=True)


def note(message):
    print(f"..   {message}", flush=True)


# --- crypto (spec 1.4-1.6) -------------------------------------------------------------------


def mac(password, *parts):
    """Uppercase HMAC-SHA256 over the parts joined by '*' (empty parts keep their asterisk)."""
    text = "*".join(parts)
    return hmac.new(password.encode("latin-1"), text.encode("latin-1"), hashlib.sha256).hexdigest().upper()


def pad(data, block, kind):
    rest = len(data) % block
    if kind == "pkcs7":
        n = block - rest
        return data + bytes([n]) * n
    if rest == 0:
        return data
    filler = b"\x00" if kind == "nul" else b" "
    return data + filler * (block - rest)


def padding_kind(rest, block):
    """Names the padding left after cutting at Len, or None if it is no known padding."""
    if not rest:
        return "none"
    if set(rest) == {0x20}:
        return "space"
    if set(rest) == {0x00}:
        return "nul"
    n = rest[-1]
    if 1 <= n <= block and len(rest) == n and set(rest) == {n}:
        return "pkcs7"
    return None


def bf_cipher(password):
    return Blowfish.new(password.encode("latin-1"), Blowfish.MODE_ECB)


def bf_encrypt(password, plain, padding="pkcs7"):
    raw = plain.encode("latin-1")
    return len(plain), bf_cipher(password).encrypt(pad(raw, 8, padding)).hex().upper()


def bf_decrypt(password, length, data):
    """Decrypts hex Data (either case) and cuts at Len; returns (plain, padding name)."""
    raw = bytes.fromhex(data)
    if len(raw) % 8:
        raise CheckFailed(f"Blowfish Data is {len(raw)} bytes, not a multiple of 8")
    clear = bf_cipher(password).decrypt(raw)
    if length > len(clear):
        raise CheckFailed(f"Len {length} is larger than the decrypted {len(clear)} bytes")
    kind = padding_kind(clear[length:], 8)
    if kind is None:
        raise CheckFailed(f"bytes after Len are no padding: {clear[length:]!r}")
    return clear[:length].decode("latin-1"), kind


def aes_encrypt(password, plain, iv=None):
    iv = iv if iv is not None else os.urandom(16)
    ct = AES.new(password.encode("latin-1"), AES.MODE_CBC, iv).encrypt(pad(plain.encode("latin-1"), 16, "pkcs7"))
    return len(plain), f"{iv.hex()}-{ct.hex()}"


def aes_decrypt(password, length, data):
    """hex(iv)-hex(ct), strict PKCS#7; Len must equal the unpadded length."""
    iv_hex, sep, ct_hex = data.partition("-")
    if not sep:
        raise CheckFailed(f"AES Data has no '-' between IV and ciphertext: {data[:40]}...")
    iv, ct = bytes.fromhex(iv_hex), bytes.fromhex(ct_hex)
    if len(iv) != 16 or len(ct) == 0 or len(ct) % 16:
        raise CheckFailed(f"AES Data: IV {len(iv)} bytes, ciphertext {len(ct)} bytes")
    clear = AES.new(password.encode("latin-1"), AES.MODE_CBC, iv).decrypt(ct)
    n = clear[-1]
    if not (1 <= n <= 16 and clear[-n:] == bytes([n]) * n):
        raise CheckFailed(f"AES plain text does not end in PKCS#7 padding: {clear[-16:]!r}")
    clear = clear[:-n]
    if len(clear) != length:
        raise CheckFailed(f"AES: Len {length} but the unpadded plain text has {len(clear)} bytes")
    return clear.decode("latin-1"), "pkcs7"


def encrypt(merchant, plain):
    if merchant["cipher"] == "aes":
        return aes_encrypt(merchant["key"], plain)
    return bf_encrypt(merchant["key"], plain)


def decrypt(merchant, length, data):
    if merchant["cipher"] == "aes":
        return aes_decrypt(merchant["key"], length, data)
    return bf_decrypt(merchant["key"], length, data)


def self_test():
    """Spec 1.13 vectors: proves this client's crypto independently of the mock."""
    check(
        mac("mySecret", "", "TID-4453732122167114558", "yourMerchantId", "1234", "EUR")
        == "38CED807E293FC634A6C36FFAEA7BD2687038D40615781918AEF2DE7BB9A9903",
        "vector 1.13: request MAC",
    )
    check(
        mac("mySecret", "7bbb448155234d8cbee323778952ce28", "TID-12033175321270170232", "yourMerchantId", "AUTHORIZED", SUCCESS)
        == "4CDCB4DE587AC210F21DE0591689B920CF56D89B38D4C7B1B7F8867BFC93E02C",
        "vector 1.13: notify MAC",
    )
    plain = "Unencrypted plain text!"
    vectors = {
        "space": "4105AAFDC6445BF2EB8242371136F4886413347EEB8731B9",
        "nul": "4105AAFDC6445BF2EB8242371136F488A4812B38A821E753",
        "pkcs7": "4105AAFDC6445BF2EB8242371136F4882D9C8C8193853E80",
    }
    for kind, expected in vectors.items():
        length, data = bf_encrypt("16CharKeyLength!", plain, kind)
        check(length == 23 and data == expected, f"vector 1.13: Blowfish ECB, {kind} padding", data)
        back, found = bf_decrypt("16CharKeyLength!", 23, expected.lower())
        check(back == plain and found == kind, f"vector 1.13: Blowfish decrypt cut at Len ({kind}, lowercase hex)")
    aes_plain = "MerchantID=Test&TransID=T1&Amount=100&Currency=EUR"
    iv = bytes(range(16))
    length, data = aes_encrypt("0123456789abcdef", aes_plain, iv)
    check(
        length == 50
        and data
        == "000102030405060708090a0b0c0d0e0f-0374769e3c4675665af17250f446a2bcef6361eb2aa467349853c162056cef003e97ee3c7b65275738f50d50c5bf01f6e0fae951b8de66464a0a3a9f9ff06ffe",
        "vector 1.13: AES-128-CBC",
        data,
    )
    _, data = aes_encrypt("0123456789abcdef0123456789abcdef", aes_plain, iv)
    check(
        data.split("-")[1]
        == "8ec76da10ad2a752bfe9368dba22658b559edbe268a55fdd6f9736de4bfbf7c1e798d8aae5d9a5ac3836916c3fcbcc51fdf225f300c663f6acd0afc19ac7ee3f",
        "vector 1.13: AES-256-CBC",
        data,
    )
    check(aes_decrypt("0123456789abcdef0123456789abcdef", 50, data)[0] == aes_plain, "AES round trip")


# --- the plain text (spec 1.3) ---------------------------------------------------------------


def plain_text(pairs):
    """Raw Key=Value pairs joined by '&' (values not URL-encoded, as most clients send them)."""
    for key, value in pairs:
        if "&" in value:
            raise ValueError(f"{key} contains '&', which the Paygate format cannot express")
    return "&".join(f"{k}={v}" for k, v in pairs)


class Fields:
    """Key=Value pairs; keys case-insensitive, the first occurrence wins."""

    def __init__(self, text):
        self.text = text
        self.map = {}
        for piece in text.split("&"):
            if not piece:
                continue
            key, _, value = piece.partition("=")
            self.map.setdefault(key.lower(), value)

    def get(self, key, default=None):
        return self.map.get(key.lower(), default)

    def __getitem__(self, key):
        value = self.get(key)
        if value is None:
            raise CheckFailed(f"field {key} missing in: {self.text}")
        return value

    def __contains__(self, key):
        return key.lower() in self.map


def is_paid(fields):
    """The merchant rule of the seed: only Code=00000000 counts as success."""
    return fields.get("Code") == SUCCESS


def answer_mac_ok(merchant, fields):
    expected = mac(merchant["hmac"], fields.get("PayID", ""), fields.get("TransID", ""), fields.get("mid", ""), fields.get("Status", ""), fields.get("Code", ""))
    return fields.get("MAC", "").strip().upper() == expected


# --- HTTP ------------------------------------------------------------------------------------

# Loopback only: never through a proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, content_type=None):
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with OPENER.open(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def admin_json(admin, path, payload):
    status, body = http("POST", admin + path, json.dumps(payload).encode(), "application/json")
    if status != 200:
        raise CheckFailed(f"admin POST {path} answered {status}: {body.decode(errors='replace')}")
    return json.loads(body)


class Response:
    """An s2s answer: the raw body, its outer pairs and the decrypted fields."""

    def __init__(self, merchant, status, body):
        self.status = status
        self.body = body
        text = body.decode("latin-1")
        self.outer = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
        if "Data" in self.outer:
            plain, self.padding = decrypt(merchant, int(self.outer["Len"]), self.outer["Data"])
            self.encrypted = True
        else:
            plain, self.padding, self.encrypted = text, None, False
        self.fields = Fields(plain)


def call(paygate, page, merchant, pairs):
    """POSTs MerchantID/Len/Data (form) to a Paygate page."""
    length, data = encrypt(merchant, plain_text(pairs))
    form = urllib.parse.urlencode({"MerchantID": merchant["id"], "Len": str(length), "Data": data}).encode()
    status, body = http("POST", f"{paygate}/{page}", form, "application/x-www-form-urlencoded")
    return Response(merchant, status, body)


# --- the shop's callback endpoints -----------------------------------------------------------


class Shop:
    """URLNotify/URLSuccess/URLFailure on 127.0.0.1:0; every call is recorded and signalled."""

    def __init__(self):
        self.messages = []
        self.changed = threading.Condition()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                path, _, query = self.path.partition("?")
                message = {
                    "method": self.command,
                    "path": path,
                    "query": query,
                    "content_type": self.headers.get("Content-Type", ""),
                    "body": body,
                }
                answer = b"[accepted]" if path.endswith("/notify") else b"<html>thank you</html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                with shop.changed:
                    shop.messages.append(message)
                    shop.changed.notify_all()

            do_GET = _record
            do_POST = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def urls(self, tag):
        return {k: f"{self.base}/shop/{tag}/{k.lower()[3:]}" for k in ("URLSuccess", "URLFailure", "URLNotify")}

    def wait(self, what, predicate, timeout=WAIT_SECONDS):
        """Blocks until predicate(messages) is true (woken by each arriving call), bounded."""
        with self.changed:
            if not self.changed.wait_for(lambda: predicate(self.messages), timeout=timeout):
                seen = [(m["method"], m["path"]) for m in self.messages]
                raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}; calls seen: {seen}")
            return list(self.messages)

    def close(self):
        self.server.shutdown()


def callback_fields(merchant, message):
    """Decrypts a notify (form body, Latin-1) or a browser return (query string)."""
    if message["method"] == "POST":
        charset = "utf-8"
        if "charset=" in message["content_type"].lower():
            charset = message["content_type"].lower().split("charset=")[1].split(";")[0].strip()
        text = message["body"].decode(charset)
        pairs = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, encoding=charset))
    else:
        pairs = dict(urllib.parse.parse_qsl(message["query"], keep_blank_values=True, encoding="latin-1"))
    if "Data" not in pairs or "Len" not in pairs:
        raise CheckFailed(f"callback {message['path']} carries no Len/Data: {pairs}")
    plain, _ = decrypt(merchant, int(pairs["Len"]), pairs["Data"])
    return Fields(plain), pairs


# --- the flows -------------------------------------------------------------------------------


def new_id(prefix):
    return f"{prefix}-{int(time.time() * 1000)}-{os.urandom(4).hex()}"


def b64json(value):
    return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def sale_pairs(merchant, trans_id, amount, urls, req_id=None, mac_value=None):
    pairs = [
        ("MerchantID", merchant["id"]),
        ("TransID", trans_id),
        ("Amount", str(amount)),
        ("Currency", "EUR"),
        ("MAC", mac_value or mac(merchant["hmac"], "", trans_id, merchant["id"], str(amount), "EUR")),
        ("URLSuccess", urls["URLSuccess"]),
        ("URLFailure", urls["URLFailure"]),
        ("URLNotify", urls["URLNotify"]),
        ("Response", "encrypt"),
        # 55.00 EUR gross at 19 % holds 8.78 EUR VAT.
        ("VatList", b64json({"items": [{"rate": 19, "amount": 878}]})),
        (
            "ArticleList",
            b64json(
                {
                    "items": [
                        {
                            "itemReference": "1",
                            "id": "A1",
                            "name": "Shirt",
                            "quantity": "1",
                            "amount": 5500,
                            "vatAmount": 878,
                            "vatPercent": 19,
                            "type": "GOODS",
                        }
                    ]
                }
            ),
        ),
        ("AccountID", ACCOUNT_ID),
        ("CustomerID", CUSTOMER_ID),
        ("IsBound", "True"),
        ("CustomerGroup", "KNOWN"),
        ("sdCountryCode", "DE"),
    ]
    if req_id:
        pairs.append(("ReqID", req_id))
    return pairs


def run_sale(paygate, admin, shop, merchant, label, points, browser_return=True):
    """A PAYBACK PAY sale of 55.00 EUR; the customer redeems `points`. Returns (PayID, TransID)."""
    amount = 5500
    tag = new_id(label.replace(" ", "-"))
    trans_id = new_id("TID")
    admin_json(admin, "/__admin/computop/next-decisions", {"decision": "approve", "points": points})
    note(f"{label}: queued the customer's decision (approve, {points} points)")
    urls = shop.urls(tag)
    response = call(paygate, "PaybackPay.aspx", merchant, sale_pairs(merchant, trans_id, amount, urls, req_id=new_id("R")[:32]))
    check(response.status == 200, f"{label}: PaybackPay.aspx answers HTTP 200", str(response.status))
    check(response.encrypted, f"{label}: the sale answer is Len/Data", response.body[:200])
    data = response.outer["Data"]
    if merchant["cipher"] == "aes":
        iv, sep, ct = data.partition("-")
        check(sep == "-" and len(iv) == 32, f"{label}: answer Data is hex(iv)-hex(ct)", data[:60])
    else:
        check(data == data.upper(), f"{label}: Blowfish answer Data is uppercase hex (pretix decodes strictly)")
        note(f"{label}: answer padding after Len: {response.padding}")
    f = response.fields
    check(f.get("Status") == "AUTHORIZE_REQUEST", f"{label}: sale answer Status=AUTHORIZE_REQUEST", f.text)
    check(f.get("Code") == "0", f"{label}: sale answer Code=0", f.text)
    check(not is_paid(f), f"{label}: the sale answer is not treated as paid")
    pay_id = f["PayID"]
    check(len(pay_id) == 32 and all(c in "0123456789abcdefABCDEF" for c in pay_id), f"{label}: PayID is an32 hex", pay_id)
    check(f.get("TransID") == trans_id, f"{label}: sale answer echoes TransID")
    if "MAC" in f:
        check(answer_mac_ok(merchant, f), f"{label}: sale answer MAC verifies", f.text)

    notify_path = urllib.parse.urlparse(urls["URLNotify"]).path
    success_path = urllib.parse.urlparse(urls["URLSuccess"]).path
    failure_path = urllib.parse.urlparse(urls["URLFailure"]).path

    def notifies(messages):
        return [callback_fields(merchant, m) + (m,) for m in messages if m["path"] == notify_path]

    def has_final_notify(messages):
        return any(fields.get("Status") != "AUTHORIZE_REQUEST" for fields, _, _ in notifies(messages))

    def has_both_notifies(messages):
        statuses = {fields.get("Status") for fields, _, _ in notifies(messages)}
        return "AUTHORIZE_REQUEST" in statuses and has_final_notify(messages)

    # Notifies may arrive in any order (spec 1.7); wait until both are there.
    messages = shop.wait(f"{label}: the AUTHORIZE_REQUEST notify and the final notify", has_both_notifies)
    received = notifies(messages)
    for fields, outer, message in received:
        check(message["method"] == "POST", f"{label}: notify ({fields.get('Status')}) is a POST")
        check("iso-8859-1" in message["content_type"].lower(), f"{label}: notify body is declared charset=iso-8859-1", message["content_type"])
        check(answer_mac_ok(merchant, fields), f"{label}: notify ({fields.get('Status')}) MAC over PayID*TransID*mid*Status*Code verifies", fields.text)
        check(fields.get("mid") == merchant["id"], f"{label}: notify mid is our MerchantID")
        check(fields.get("PayID") == pay_id and fields.get("TransID") == trans_id, f"{label}: notify refers to our PayID/TransID")

    authorize = next(fields for fields, _, _ in received if fields.get("Status") == "AUTHORIZE_REQUEST")
    check(authorize.get("Code") == "0", f"{label}: AUTHORIZE_REQUEST notify has the one-character Code 0", authorize.get("Code"))
    check(not is_paid(authorize), f"{label}: AUTHORIZE_REQUEST notify is NOT treated as paid (Code != 00000000)")
    if authorize.get("Code", "")[:1] == "0":
        note(f"{label}: a client that classified by the first character of Code would wrongly book this notify as paid")
    check(bool(authorize.get("TransactionID")) and "ecomid=" in authorize.get("redirecturl", ""), f"{label}: AUTHORIZE_REQUEST carries TransactionID and redirecturl")

    finals = [fields for fields, _, _ in received if fields.get("Status") != "AUTHORIZE_REQUEST"]
    check(len(finals) == 1, f"{label}: exactly one final notify", str([x.text for x in finals]))
    final = finals[0]
    check(final.get("Status") == "OK", f"{label}: final notify Status=OK", final.text)
    check(final.get("Code") == SUCCESS and is_paid(final), f"{label}: final notify Code=00000000", final.get("Code"))
    check(final.get("Amount") == str(amount), f"{label}: final notify Amount={amount}", final.get("Amount"))
    redeemed, paid = int(final["pointsredeemed"]), int(final["payamount"])
    check(redeemed == points, f"{label}: pointsredeemed={points}", str(redeemed))
    check(paid == amount - points, f"{label}: payamount={amount - points}", str(paid))
    check(redeemed + paid == amount, f"{label}: pointsredeemed + payamount = Amount")
    check(final.get("redemptionfactor") == "0.01", f"{label}: redemptionfactor=0.01", final.get("redemptionfactor"))
    check(final.get("accountid") == ACCOUNT_ID and final.get("customerid") == CUSTOMER_ID, f"{label}: final notify names the member")

    if browser_return:
        messages = shop.wait(f"{label}: the browser return", lambda ms: any(m["path"] in (success_path, failure_path) for m in ms))
        back = [m for m in messages if m["path"] in (success_path, failure_path)]
        check(len(back) == 1 and back[0]["path"] == success_path, f"{label}: the browser returns to URLSuccess", str([m["path"] for m in back]))
        check(back[0]["method"] in ("GET", "POST"), f"{label}: browser return is GET or POST", back[0]["method"])
        fields, _ = callback_fields(merchant, back[0])
        check(answer_mac_ok(merchant, fields), f"{label}: browser return MAC verifies", fields.text)
        check(fields.get("PayID") == pay_id and fields.get("Code") == SUCCESS and fields.get("Status") == "OK", f"{label}: browser return says OK/00000000 for our PayID", fields.text)
    return pay_id, trans_id


def inquire(paygate, merchant, pay_id, trans_id):
    # The docs leave Amount and Currency out of an inquiry's MAC (empty, asterisks kept).
    pairs = [
        ("MerchantID", merchant["id"]),
        ("PayID", pay_id),
        ("TransID", trans_id),
        ("MAC", mac(merchant["hmac"], pay_id, trans_id, merchant["id"], "", "")),
    ]
    return call(paygate, "inquire.aspx", merchant, pairs)


def credit_pairs(merchant, pay_id, amount, trans_id, req_id=None, mac_value=None):
    pairs = [
        ("MerchantID", merchant["id"]),
        ("PayID", pay_id),
        ("TransID", trans_id),
        ("Amount", str(amount)),
        ("Currency", "EUR"),
        ("MAC", mac_value or mac(merchant["hmac"], pay_id, trans_id, merchant["id"], str(amount), "EUR")),
    ]
    if req_id:
        pairs.append(("ReqID", req_id))
    return pairs


def check_credit_ok(label, response, merchant, amount, money, points):
    f = response.fields
    check(response.status == 200 and response.encrypted, f"{label}: credit.aspx answers Len/Data", response.body[:200])
    check(list(response.outer)[:2] == ["Len", "Data"], f"{label}: Len comes before Data in the body (FATCHIP cuts from Len=)", str(list(response.outer)))
    check(f.get("Status") == "OK" and f.get("Code") == SUCCESS, f"{label}: Status=OK Code=00000000", f.text)
    check(f.get("Amount") == str(amount), f"{label}: Amount={amount}", f.get("Amount"))
    check(f.get("payamount") == str(-money), f"{label}: payamount={-money} (money part, negative)", f.get("payamount"))
    check(f.get("pointsredeemed") == str(points), f"{label}: pointsredeemed={points}", f.get("pointsredeemed"))
    check(-int(f["payamount"]) + int(f["pointsredeemed"]) == amount, f"{label}: money + points = Amount")
    check(f.get("RedemptionFactor") == "0.01", f"{label}: RedemptionFactor=0.01", f.get("RedemptionFactor"))
    if "MAC" in f:
        check(answer_mac_ok(merchant, f), f"{label}: answer MAC verifies", f.text)


def check_failed(label, response):
    f = response.fields
    code = f.get("Code", "")
    check(f.get("Status") == "FAILED", f"{label}: Status=FAILED", f.text)
    check(len(code) == 8, f"{label}: Code has 8 characters", code)
    check(code.startswith("2"), f"{label}: Code starts with 2 (error)", code)
    check(not is_paid(f), f"{label}: not treated as success")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paygate", required=True, help="Computop Paygate base URL of the mock")
    parser.add_argument("--admin", required=True, help="possim admin base URL")
    args = parser.parse_args()
    paygate, admin = args.paygate.rstrip("/"), args.admin.rstrip("/")

    self_test()
    shop = Shop()
    try:
        bf = BF_MERCHANT
        # (a) the Blowfish sale: 55.00 EUR, 500 points.
        pay_id, sale_trans = run_sale(paygate, admin, shop, bf, "blowfish sale", 500)

        # (b) inquiry.
        r = inquire(paygate, bf, pay_id, sale_trans)
        f = r.fields
        check(f.get("Status") == "OK" and f.get("Code") == SUCCESS, "inquire: Status=OK Code=00000000", f.text)
        check(f.get("LastStatus") == "OK", "inquire: LastStatus=OK", f.get("LastStatus"))
        check(f.get("AmountAuth") == "5500" and f.get("AmountCap") == "5500", "inquire: AmountAuth=AmountCap=5500", f.text)
        check(f.get("AmountCred") == "0", "inquire: AmountCred=0 before any credit", f.get("AmountCred"))

        # (c) credits: 10.00 (money first), 45.00 (money 40.00 + 500 points), then 0.01 too much.
        req_id = new_id("RC")[:32]
        first_pairs = credit_pairs(bf, pay_id, 1000, new_id("CR1"), req_id=req_id)
        first = call(paygate, "credit.aspx", bf, first_pairs)
        check_credit_ok("credit 10.00", first, bf, 1000, 1000, 0)
        second = call(paygate, "credit.aspx", bf, credit_pairs(bf, pay_id, 4500, new_id("CR2")))
        check_credit_ok("credit 45.00", second, bf, 4500, 4000, 500)
        note(f"credit 45.00: the mock reports the split money {-int(second.fields['payamount'])} + points {second.fields['pointsredeemed']}")
        third = call(paygate, "credit.aspx", bf, credit_pairs(bf, pay_id, 1, new_id("CR3")))
        check_failed("credit 0.01 over the captured total", third)
        r = inquire(paygate, bf, pay_id, sale_trans)
        check(r.fields.get("AmountCred") == "5500", "inquire: AmountCred=5500 after the credits", r.fields.text)

        # (d) ReqID replay of the first credit: the original answer, byte for byte, no new action.
        replay = call(paygate, "credit.aspx", bf, first_pairs)
        check(replay.body == first.body, "credit ReqID replay: byte-identical body", f"{replay.body!r} vs {first.body!r}")
        r = inquire(paygate, bf, pay_id, sale_trans)
        check(r.fields.get("AmountCred") == "5500", "credit ReqID replay: nothing credited again (AmountCred=5500)", r.fields.text)

        # (e) the AES merchant: the same sale.
        aes = AES_MERCHANT
        aes_pay_id, _ = run_sale(paygate, admin, shop, aes, "aes sale", 500)

        # (f) wrong MACs.
        urls = shop.urls(new_id("badmac"))
        trans = new_id("TID")
        bad = mac(bf["hmac"], "", trans, bf["id"], "5501", "EUR")  # signs another amount
        r = call(paygate, "PaybackPay.aspx", bf, sale_pairs(bf, trans, 5500, urls, mac_value=bad))
        check_failed("sale with a wrong MAC", r)
        if "MAC" in r.fields:
            check(answer_mac_ok(bf, r.fields), "sale with a wrong MAC: the refusal's own MAC verifies", r.fields.text)
        # A credit the AES payment could take, but its MAC leaves out PayID (pretix's first
        # refund bug); the same credit with the right MAC then goes through.
        trans = new_id("CR4")
        without_pay_id = mac(aes["hmac"], "", trans, aes["id"], "100", "EUR")
        r = call(paygate, "credit.aspx", aes, credit_pairs(aes, aes_pay_id, 100, trans, mac_value=without_pay_id))
        check_failed("aes credit whose MAC leaves out PayID", r)
        r = call(paygate, "credit.aspx", aes, credit_pairs(aes, aes_pay_id, 100, trans))
        check_credit_ok("aes credit 1.00 with the right MAC", r, aes, 100, 100, 0)
    except CheckFailed as failure:
        print(f"FAIL {failure}", flush=True)
        return 1
    finally:
        shop.close()
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as failure:
        print(f"FAIL {failure}", flush=True)
        sys.exit(1)
