#!/usr/bin/env python3
"""An independent PAYBACK PAY web shop on the Computop Paygate for possim's `exec` driver.

Written from the published contract only — conformance/README.md (the exec driver, the
`computop-*` actions and results, "Contract details"), mocks/computop/README.md and the PAYBACK
PAY seed (003) — never from possim's Rust code, so that `possim certify
conformance/computop-payback-pay --driver exec -- python3 computop_shop.py` proves a vendor can
pass the suite from the documents. The envelope (Blowfish/AES Data, HMAC) comes from
`computop_client.py` beside it, itself written from the protocol notes and checked against their
published vectors. Needs pycryptodome.

The shop listens on 127.0.0.1:0 for URLNotify and the browser's URLSuccess/URLFailure, starts the
sale (PaybackPay.aspx), checks the MAC of everything that comes back (400 to a bad one), counts
only Code 00000000 as paid and 6… as pending, books the order once under a lock, keeps answering
until the final notify and the browser have both arrived, then (for a refund) credits
(credit.aspx) with the PayID in the MAC, asking once more with the same ReqID when an answer is
lost. The action arrives on stdin; the shop prints one JSON result line.
"""

import base64
import http.client
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import computop_client as envelope  # noqa: E402  (the crypto, beside this file)

SUCCESS = "00000000"
WAIT_SECONDS = 10.0
HTTP_TIMEOUT = 10.0
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Lost(Exception):
    """A request's answer never arrived or cannot be read."""


def cents(text):
    value = Decimal(text) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{text} has more than two decimals")
    return int(value)


def b64json(value):
    return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def euros(value):
    return str((Decimal(int(value)) / 100).quantize(Decimal("0.01")))


class Order:
    """What the shop knows about its one order; every change under the lock."""

    def __init__(self, merchant):
        self.merchant = merchant
        self.lock = threading.Condition()
        self.outcome = None  # "paid" | "failed" once final
        self.final = None  # the fields that made it final
        self.final_notify = False
        self.browser = False
        self.orders = 0

    def receive(self, kind, pairs):
        """A notify or browser return: True when its MAC verified."""
        try:
            plain, _ = envelope.decrypt(self.merchant, int(pairs["Len"]), pairs["Data"])
        except Exception:  # noqa: BLE001 - anything unreadable is not from the Paygate
            return False
        fields = envelope.Fields(plain)
        if not envelope.answer_mac_ok(self.merchant, fields):
            return False
        code = fields.get("Code", "")
        with self.lock:
            if kind == "return":
                self.browser = True
            if code == SUCCESS:
                if self.outcome is None:
                    self.outcome, self.final = "paid", fields
                    self.orders += 1  # booked once, whoever comes first
                if kind == "notify":
                    self.final_notify = True
            elif code == "0" or code.startswith("6"):
                pass  # AUTHORIZE_REQUEST or pending: the final status follows
            else:
                if self.outcome is None:
                    self.outcome, self.final = "failed", fields
                if kind == "notify":
                    self.final_notify = True
            self.lock.notify_all()
        return True

    def wait(self):
        """Until the final notify and the browser both arrived (bounded)."""
        deadline = time.monotonic() + WAIT_SECONDS
        with self.lock:
            while not (self.final_notify and self.browser):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.lock.wait(left)


def listen(order):
    class Handler(BaseHTTPRequestHandler):
        def handle_call(self):
            path, _, query = self.path.partition("?")
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size).decode("latin-1") if size else ""
            text = body if self.command == "POST" else query
            pairs = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="latin-1"))
            kind = "notify" if path.endswith("/notify") else "return"
            ok = "Len" in pairs and "Data" in pairs and order.receive(kind, pairs)
            answer = (b"[accepted]" if kind == "notify" else b"<html>thank you</html>") if ok else b"bad MAC"
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = handle_call
        do_POST = handle_call

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def call(merchant, page, pairs):
    """POSTs MerchantID/Len/Data to a Paygate page; the decrypted answer fields."""
    length, data = envelope.encrypt(merchant, envelope.plain_text(pairs))
    form = urllib.parse.urlencode({"MerchantID": merchant["id"], "Len": str(length), "Data": data}).encode()
    base = os.environ["POSSIM_COMPUTOP_URL"].rstrip("/")
    request = urllib.request.Request(f"{base}/{page}", data=form, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with OPENER.open(request, timeout=HTTP_TIMEOUT) as response:
            text = response.read().decode("latin-1")
    except urllib.error.HTTPError as error:
        raise Lost(f"HTTP {error.code}")
    except (OSError, http.client.HTTPException) as error:
        raise Lost(f"no answer: {error!r}")
    outer = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="latin-1"))
    try:
        if "Data" in outer:
            plain, _ = envelope.decrypt(merchant, int(outer["Len"]), outer["Data"])
        else:
            plain = text
    except Exception as error:  # noqa: BLE001 - a cut or garbled answer is a lost one
        raise Lost(f"unreadable answer: {error}")
    fields = envelope.Fields(plain)
    if "Code" not in fields:
        raise Lost(f"answer without Code: {text[:80]}")
    return fields


def call_once_more(merchant, page, pairs):
    """A request with a ReqID: a lost answer is asked for once more with the same ReqID (the
    Paygate replays instead of acting twice, seed 003)."""
    try:
        return call(merchant, page, pairs)
    except Lost:
        return call(merchant, page, pairs)


def sale(merchant, action, order, base):
    amount = cents(action["amount"])
    # The VAT in a 19 % gross amount, rounded half up, at least one cent.
    vat = max(1, int((Decimal(amount) * 19 / 119).quantize(Decimal(1), rounding="ROUND_HALF_UP")))
    trans_id = "T" + uuid.uuid4().hex[:20]
    pairs = [
        ("MerchantID", merchant["id"]),
        ("TransID", trans_id),
        ("Amount", str(amount)),
        ("Currency", "EUR"),
        ("MAC", envelope.mac(merchant["hmac"], "", trans_id, merchant["id"], str(amount), "EUR")),
        ("URLSuccess", f"{base}/success"),
        ("URLFailure", f"{base}/failure"),
        ("URLNotify", f"{base}/notify"),
        ("Response", "encrypt"),
        ("ReqID", uuid.uuid4().hex),
        ("AccountID", action["accountId"]),
        ("IsBound", "False"),
        ("CustomerGroup", "KNOWN"),
        ("sdCountryCode", "DE"),
        # Mandatory (seed 003); the action has no articles, so the whole order is one at 19 %.
        ("VatList", b64json({"items": [{"rate": 19, "amount": vat}]})),
        (
            "ArticleList",
            b64json(
                {
                    "items": [
                        {
                            "itemReference": "1",
                            "id": "ORDER",
                            "name": "Order",
                            "quantity": "1",
                            "amount": amount,
                            "vatAmount": vat,
                            "vatPercent": 19,
                            "type": "GOODS",
                        }
                    ]
                }
            ),
        ),
    ]
    if action.get("orderDesc"):
        pairs.append(("OrderDesc", action["orderDesc"]))
    answer = call_once_more(merchant, "PaybackPay.aspx", pairs)
    code = answer.get("Code", "")
    if code not in ("0", SUCCESS) and not code.startswith("6"):
        return trans_id, answer.get("PayID"), {"status": "refused", "orders": 0,
                                               "message": f"sale refused: {answer.get('Description')} ({code})"}
    order.wait()
    with order.lock:
        if order.outcome == "paid":
            f = order.final
            result = {
                "status": "completed",
                "payId": f.get("PayID"),
                "pointsRedeemed": int(f.get("pointsredeemed") or 0),
                "payAmount": euros(f.get("payamount") or 0),
                "orders": order.orders,
            }
        elif order.outcome == "failed":
            result = {"status": "refused", "orders": 0, "payId": order.final.get("PayID"),
                      "message": f"payment failed ({order.final.get('Code')})"}
        else:
            result = {"status": "error", "message": "no final status within the wait"}
    return trans_id, answer.get("PayID"), result


def refund(merchant, action, trans_id, pay_id, result):
    amount = cents(action["amount"])
    pairs = [
        ("MerchantID", merchant["id"]),
        ("PayID", pay_id),
        ("TransID", trans_id),
        ("ReqID", uuid.uuid4().hex),
        ("Amount", str(amount)),
        ("Currency", "EUR"),
        ("MAC", envelope.mac(merchant["hmac"], pay_id, trans_id, merchant["id"], str(amount), "EUR")),
    ]
    try:
        answer = call_once_more(merchant, "credit.aspx", pairs)
    except Lost as lost:
        return {"status": "error", "message": f"the credit's outcome is unknown: {lost}"}
    if answer.get("Code") != SUCCESS:
        return {"status": "refused", "orders": result["orders"],
                "message": f"credit refused: {answer.get('Description')} ({answer.get('Code')})"}
    result["credited"] = euros(answer.get("Amount") or amount)
    return result


def main():
    action = json.loads(sys.stdin.read() or os.environ.get("POSSIM_ACTION", ""))
    merchant = {
        "id": os.environ["POSSIM_COMPUTOP_MERCHANT_ID"],
        "hmac": os.environ["POSSIM_COMPUTOP_HMAC_PASSWORD"],
        "key": os.environ["POSSIM_COMPUTOP_CRYPT_PASSWORD"],
        "cipher": os.environ.get("POSSIM_COMPUTOP_CIPHER", "blowfish"),
    }
    order = Order(merchant)
    server, base = listen(order)
    try:
        kind = action["type"]
        if kind == "computop-sale":
            _, _, result = sale(merchant, action, order, base)
        elif kind == "computop-refund":
            sale_action = dict(action, amount=action["saleAmount"])
            trans_id, pay_id, result = sale(merchant, sale_action, order, base)
            if result["status"] == "completed":
                result = refund(merchant, action, trans_id, pay_id, result)
        else:
            result = {"status": "error", "message": f"unknown action {kind}"}
    except Lost as lost:
        result = {"status": "error", "message": str(lost)}
    finally:
        server.shutdown()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
