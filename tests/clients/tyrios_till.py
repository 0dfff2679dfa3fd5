#!/usr/bin/env python3
"""An independent TYRIOS eCash till for possim's `exec` driver.

Written from the published contract only — conformance/README.md (the exec driver, the action
vocabulary, the result), mocks/tyrios/README.md and the TYRIOS seed (001) — never from possim's
Rust code, so that `possim certify conformance/tyrios --driver exec -- python3 tyrios_till.py`
proves a vendor can pass the suite from the documents. Standard library only.

The action arrives on stdin (also in POSSIM_ACTION); the till prints one JSON result line.
"""

import base64
import http.client
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

TIMEOUT = 10.0


class Refused(Exception):
    """The provider refused the business request (HTTP 400): nothing booked."""


class Configuration(Exception):
    """The provider refused the till's own credentials or rights (401, 403)."""


class Unknown(Exception):
    """The answer never arrived or cannot be read: the outcome is unknown."""


class Tyrios:
    def __init__(self):
        # The seed's general endpoint is https://[instance]/service/BonusPointManagement.
        self.base = os.environ["POSSIM_TYRIOS_URL"].rstrip("/") + "/service/BonusPointManagement"
        login = os.environ.get("POSSIM_TYRIOS_LOGIN", "")
        password = os.environ.get("POSSIM_TYRIOS_PASSWORD", "")
        token = base64.b64encode(f"{login}:{password}".encode()).decode()
        self.auth = f"Basic {token}"

    def call(self, method, path, body=None, query=None):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", self.auth)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            if error.code in (401, 403):
                raise Configuration(f"HTTP {error.code}: {text}")
            if error.code == 400:
                try:
                    message = json.loads(text).get("message", text)
                except ValueError:
                    message = text
                raise Refused(message)
            raise Unknown(f"HTTP {error.code}: {text}")
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise Unknown(f"no answer: {error}")
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as error:
            raise Unknown(f"unreadable answer: {error}")

    def transaction(self, kind, body):
        """Draft first (the seed's recommended workflow), then the final call redeeming exactly
        what the draft promised (mocks/tyrios/README.md), never repeated."""
        draft = self.call("POST", f"/BonusPointTransaction/{kind}", body, {"draft": "true"})
        final = dict(body)
        if (draft.get("redeemedPoints") or 0) > 0:
            final["redeemedPoints"] = draft["redeemedPoints"]
        return self.call("POST", f"/BonusPointTransaction/{kind}", final)


def amount(text):
    """A decimal string of the action as a JSON number with the same digits (19.99 -> 19.99)."""
    value = Decimal(text)
    if value == value.to_integral_value():
        return int(value)
    # A float's shortest repr of a two-decimal amount is its own digits.
    return float(value)


def money(number):
    """A JSON number of the provider as the result's decimal string with two decimals."""
    return str(Decimal(str(number or 0)).quantize(Decimal("0.01")))


def customer_of(user):
    return {
        "id": user.get("id"),
        "preName": user.get("preName"),
        "name": user.get("name"),
        "eMail": user.get("eMail"),
        "points": user.get("currentBonusPoints"),
    }


def identify(tyrios, customer, body):
    """Puts the customer into a transaction body: UserData and userMode (seed's field table)."""
    if not customer:
        # The seed's coupon-only example sends userMode HASH without a user.
        body["userMode"] = "HASH"
        return
    if "card" in customer:
        body["UserData"] = customer["card"]
        body["userMode"] = "HASH"
    elif "search" in customer:
        found = tyrios.call("GET", "/UserData/", query={"query": customer["search"]})
        suggestions = found.get("suggestions") or []
        email = customer.get("eMail")
        matches = [u for u in suggestions if not email or (u.get("eMail") or "").lower() == email.lower()]
        if not matches:
            raise Refused(f"no customer found for {customer['search']!r}")
        body["UserData"] = matches[0]
        body["userMode"] = "SEARCH"
    elif "new" in customer:
        new = customer["new"]
        body["UserData"] = {k: new[k] for k in ("preName", "name", "eMail") if k in new}
        body["userMode"] = "CREATE"


def transaction_result(answer):
    return {
        "status": "completed",
        "amountDue": money(answer.get("remainingAmount")),
        "redeemedPoints": answer.get("redeemedPoints") or 0,
        "obtainedPoints": answer.get("obtainedPoints") or 0,
        "transactionId": answer.get("id"),
    }


def perform(tyrios, action):
    kind = action["type"]
    customer = action.get("customer")
    if kind == "lookup-customer":
        user = tyrios.call("GET", "/UserData/" + urllib.parse.quote(customer["card"]))
        return {"status": "completed", "customer": customer_of(user)}
    if kind == "search-customer":
        found = tyrios.call("GET", "/UserData/", query={"query": action["query"]})
        return {"status": "completed", "customers": [customer_of(u) for u in found.get("suggestions") or []]}
    if kind == "register-customer":
        new = customer["new"]
        user = tyrios.call("POST", "/UserData/", {k: new[k] for k in ("preName", "name", "eMail") if k in new})
        return {"status": "completed", "customer": customer_of(user)}
    if kind == "show-transactions":
        if customer and "card" in customer:
            path = "/UserData/" + urllib.parse.quote(customer["card"]) + "/BonusPointTransaction"
        else:
            path = "/BonusPointTransaction"
        overview = tyrios.call("GET", path)
        return {
            "status": "completed",
            "transactions": [
                {
                    "transactionId": t.get("id"),
                    "transactionType": t.get("transactionType"),
                    "totalAmount": money(t.get("totalAmount")),
                }
                for t in overview.get("transactions") or []
            ],
        }

    body = {}
    identify(tyrios, customer, body)
    if kind == "sale":
        body["productGroup"] = action["productGroup"]
        body["totalAmount"] = amount(action["amount"])
        body["enablePointRedemption"] = action.get("usePoints", True)
        if action.get("coupons"):
            body["BonusPointCouponData"] = [{"couponCode": c} for c in action["coupons"]]
        endpoint = "pos"
    elif kind == "book-coupons":
        if "productGroup" in action:
            body["productGroup"] = action["productGroup"]
        body["BonusPointCouponData"] = [{"couponCode": c} for c in action["coupons"]]
        endpoint = "coupon"
    elif kind == "sell-coupons":
        body["productGroup"] = action["productGroup"]
        body["BonusPointCouponData"] = [
            {"couponCode": c["code"], "couponValue": amount(c["value"])} for c in action["coupons"]
        ]
        body["enablePointRedemption"] = action.get("usePoints", True)
        endpoint = "couponActivation"
    elif kind == "buy-points":
        body["productGroup"] = action["productGroup"]
        body["totalAmount"] = amount(action["amount"])
        endpoint = "cash"
    elif kind == "grant-points":
        body["productGroup"] = action["productGroup"]
        body["obtainedPoints"] = int(action["points"])
        endpoint = "specialPoints"
    else:
        return {"status": "error", "message": f"unknown action {kind}"}
    return transaction_result(tyrios.transaction(endpoint, body))


def main():
    text = sys.stdin.read() or os.environ.get("POSSIM_ACTION", "")
    action = json.loads(text)
    try:
        result = perform(Tyrios(), action)
    except Refused as refused:
        result = {"status": "refused", "message": str(refused)}
    except Configuration as config:
        result = {"status": "error", "reason": "configuration", "message": str(config)}
    except Unknown as unknown:
        result = {"status": "error", "message": str(unknown)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
