#!/usr/bin/env python3
"""An independent PAYBACK till for possim's `exec` driver.

Written from the published contract only — conformance/README.md (the exec driver, the action
vocabulary, the PAYBACK results), mocks/payback/README.md (the partner API of possim's design),
virtual-terminal/README.md ("PAYBACK redemption through the terminal") and seed 000 — never from
possim's Rust code, so that `possim certify conformance/payback --driver exec -- python3
payback_till.py` proves a vendor can pass the suite from the documents. Standard library only.

The action arrives on stdin (also in POSSIM_ACTION); the till prints one JSON result line.
"""

import base64
import http.client
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from decimal import Decimal

TIMEOUT = 10.0


class Refused(Exception):
    """PAYBACK refused the business request: nothing booked."""

    def __init__(self, code, message=""):
        super().__init__(f"{code}: {message}")
        self.code = code


class Configuration(Exception):
    """PAYBACK refused the till's own credentials (401)."""


class Unknown(Exception):
    """The answer never arrived or cannot be read: the outcome is unknown."""


def cents(text):
    """A decimal string of the action in cents, exactly (19.99 -> 1999)."""
    value = Decimal(text) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{text} has more than two decimals")
    return int(value)


def euros(cents_value):
    return str((Decimal(cents_value) / 100).quantize(Decimal("0.01")))


class Payback:
    def __init__(self):
        self.base = os.environ["POSSIM_PAYBACK_URL"].rstrip("/")
        login = os.environ.get("POSSIM_PAYBACK_LOGIN", "")
        password = os.environ.get("POSSIM_PAYBACK_PASSWORD", "")
        self.partner = os.environ.get("POSSIM_PAYBACK_PARTNER", "")
        self.auth = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()

    def post(self, path, body):
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST")
        request.add_header("Authorization", self.auth)
        request.add_header("partnerShortName", self.partner)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            if error.code == 401:
                raise Configuration(text)
            try:
                answer = json.loads(text)
            except ValueError:
                raise Unknown(f"HTTP {error.code}: {text}")
            if 400 <= error.code < 500 and isinstance(answer, dict) and "code" in answer:
                raise Refused(answer["code"], answer.get("message", ""))
            raise Unknown(f"HTTP {error.code}: {text}")
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise Unknown(f"no answer: {error}")
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as error:
            raise Unknown(f"unreadable answer: {error}")

    def booking(self, path, body):
        """A booking; a lost answer is asked for once more with the same transactionId, which
        PAYBACK replays instead of booking twice (mocks/payback/README.md, Idempotency)."""
        try:
            return self.post(path, body)
        except Unknown:
            return self.post(path, body)


def new_transaction_id(receipt):
    return f"py-{receipt}-{uuid.uuid4().hex[:12]}"


def collect(payback, action):
    body = {
        "transactionId": new_transaction_id(action["receipt"]),
        "cardNumber": action["customer"]["card"],
        "receiptNumber": action["receipt"],
        "totalAmountCents": cents(action["amount"]),
    }
    if action.get("eligibleAmount") is not None:
        body["eligibleAmountCents"] = cents(action["eligibleAmount"])
    if action.get("coupons"):
        body["coupons"] = list(action["coupons"])
    answer = payback.booking("/purchases", body)
    return {"status": "completed", "points": answer.get("totalPoints"), "newBalance": answer.get("newBalance")}


def redeem(payback, action):
    card = action["customer"]["card"]
    basket = cents(action["basket"])
    session = None
    for pin in action.get("pinEntries") or []:
        try:
            session = payback.post("/members/authenticate", {"cardNumber": card, "pin": pin})
            break
        except Refused as refused:
            if refused.code == "PIN_INVALID":
                continue  # the customer may type again
            raise  # PIN_LOCKED and the rest end the redemption: never ask again
    if session is None:
        raise Refused("PIN_INVALID", "the customer did not enter the right PIN")
    # redeemableBalance is 0 when the member may not redeem (unregistered, below 200 points).
    redeemable = int(session.get("redeemableBalance") or 0)
    if redeemable == 0:
        raise Refused("NOTHING_REDEEMABLE", f"balance {session.get('balance')} cannot be redeemed")
    body = {
        "transactionId": new_transaction_id(action["receipt"]),
        "pinToken": session["pinToken"],
        "basketTotalCents": basket,
        "receiptNumber": action["receipt"],
    }
    if action.get("points") is not None:
        body["points"] = int(action["points"])
    else:
        # All that may be redeemed, at most the basket, said in money (1 point = 1 cent).
        body["amountCents"] = min(redeemable, basket)
    answer = payback.booking("/redemptions", body)
    voucher = int(answer.get("amountCents") or 0)
    return {
        "status": "completed",
        "redeemedPoints": answer.get("redeemedPoints"),
        "voucherAmount": euros(voucher),
        "amountDue": euros(basket - voucher),
        "newBalance": answer.get("newBalance"),
    }


def main():
    text = sys.stdin.read() or os.environ.get("POSSIM_ACTION", "")
    action = json.loads(text)
    kind = action["type"]
    try:
        if kind == "payback-collect":
            result = collect(Payback(), action)
        elif kind == "payback-redeem":
            result = redeem(Payback(), action)
        elif kind == "payback-terminal-redeem":
            import payback_terminal  # the ZVT half, beside this file

            result = payback_terminal.redeem(action)
        else:
            result = {"status": "error", "message": f"unknown action {kind}"}
    except Refused as refused:
        result = {"status": "refused", "message": str(refused)}
    except Configuration as config:
        result = {"status": "error", "reason": "configuration", "message": str(config)}
    except Unknown as unknown:
        result = {"status": "error", "message": str(unknown)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
