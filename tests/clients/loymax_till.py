#!/usr/bin/env python3
"""An independent Loymax till (cash-register XML exchange protocol 3.2) for possim's `exec` driver.

Written from the published documents only — conformance/README.md (the exec driver, the Loymax
actions and results), conformance/loymax/README.md, mocks/loymax/README.md, scenarios/README.md,
the protocol notes (shared/specs/loymax-tyrios.md part 1) and seed 004 — never from possim's Rust
code or its reference till, so that `possim certify loymax --driver exec -- python3
tests/clients/loymax_till.py` proves a vendor can pass the suite from the documents. Standard
library only (the signature is RSA PKCS#1 v1.5 / SHA-256 done with Python integers).

The action arrives on stdin (also in POSSIM_ACTION); the till prints one JSON result line.
Signing: a device whose private key is found as `<LOYMAX_TILL_KEYS>/<login>.key.pem` (default:
possim's committed test keys in mocks/loymax/keys/) signs every request (`X-Signature`).
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import sys
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal

TIMEOUT = 4.0
PROJECT = "possim"
KOPECK = Decimal("0.01")

# mocks/loymax/README.md, "The code table — UNVERIFIED" (the spec's hypothesis).
CODES = {
    0: "Ok", 1: "SystemError", 2: "VersionError", 3: "ParseError", 4: "FormatException",
    5: "RequereFieldException", 6: "SignatureError", 7: "SignatureNotFound",
    8: "CertificateError",
}
for _i, _name in enumerate(
    "CardNotFound DeviceNotFound LargePaymentAmount NotEnoughMoney CardBlocked DeviceBlocked "
    "NotUniqueOperationID OperationNotFound OperationIsConfirmed OperationIsCanceled WrongPin "
    "CashierNotFound CardHolderNotFound CardNotActivated DiscountException PurchaseNotFound "
    "DifferentCheque IncorrectOperationOrder CardExtraPayment ConfirmedPurchaseOperation "
    "PurchaseExtraPayment LimitGained PaymentException DifferentPurchase CouponsException "
    "BusinessError ApplicationDeviceGrant NotUniquePurchaseID UnspecifiedLoyaltyProgram "
    "DivisibilityError DifferentLegals Created PayTypeIsNotExist PayTypeIsArchived CardExpired "
    "GiftCertificateError PurchaseOperationConflict".split()
):
    CODES[201 + _i] = _name


def code_name(code):
    try:
        return CODES.get(int(code), str(code))
    except ValueError:
        return str(code)


class Lost(Exception):
    """No (complete) answer: processing unreachable, connection closed, answer cut."""


class Configuration(Exception):
    """Processing refused the till's own credentials (401)."""


class Refused(Exception):
    """Processing answered with a business error."""

    def __init__(self, code, message, answer=None):
        super().__init__(message or code_name(code))
        self.code = code
        self.name = code_name(code)
        self.answer = answer


class EnvelopeError(Exception):
    """The whole document was refused (parse, version, signature, strict schema)."""


# What a request can end in besides an answer the till goes on with.
FAILURES = (Lost, Refused, EnvelopeError)


# --- the signature (ЭЦП, possim's design: RSA PKCS#1 v1.5 / SHA-256 over the body) -------------


def _der_read(data, pos):
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    return tag, data[pos:pos + length], pos + length


def _der_integers(seq):
    values, pos = [], 0
    while pos < len(seq):
        tag, value, pos = _der_read(seq, pos)
        values.append((tag, value))
    return values


def load_rsa_key(path):
    text = open(path, encoding="ascii").read()
    body = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
    der = base64.b64decode(body)
    _, seq, _ = _der_read(der, 0)
    items = _der_integers(seq)
    if "BEGIN PRIVATE KEY" in text:  # PKCS#8: version, algorithm, OCTET STRING(PKCS#1)
        _, inner, _ = _der_read(items[2][1], 0)
        items = _der_integers(inner)
    n = int.from_bytes(items[1][1], "big")
    d = int.from_bytes(items[3][1], "big")
    return n, d


SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def rsa_sign(key, data):
    n, d = key
    size = (n.bit_length() + 7) // 8
    digest_info = SHA256_PREFIX + hashlib.sha256(data).digest()
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    signature = pow(int.from_bytes(encoded, "big"), d, n).to_bytes(size, "big")
    return base64.b64encode(signature).decode("ascii")


# --- money ----------------------------------------------------------------------------------


def dec(value, default="0"):
    if value is None or value == "":
        return Decimal(default)
    return Decimal(str(value))


def money(value):
    return str(dec(value).quantize(KOPECK, rounding=ROUND_HALF_UP))


# --- the processing connection ----------------------------------------------------------------


class Processing:
    def __init__(self):
        url = urllib.parse.urlsplit(os.environ["POSSIM_LOYMAX_URL"])
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.https = url.scheme == "https"
        self.login = os.environ.get("POSSIM_LOYMAX_LOGIN", "")
        password = os.environ.get("POSSIM_LOYMAX_PASSWORD", "")
        base = url.path.rstrip("/")
        self.path = f"{base}/XmlExchange/{PROJECT}/{urllib.parse.quote(self.login)}/"
        token = base64.b64encode(f"{self.login}:{password}".encode()).decode()
        self.auth = f"Basic {token}"
        keys = os.environ.get("LOYMAX_TILL_KEYS") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "mocks", "loymax", "keys"
        )
        key_file = os.path.join(keys, f"{self.login}.key.pem")
        self.key = load_rsa_key(key_file) if self.login and os.path.isfile(key_file) else None

    def post(self, body):
        """One POST; the singular answer element, or Lost / Configuration / EnvelopeError."""
        headers = {
            "Authorization": self.auth,
            "Content-Type": "application/xml; charset=utf-8",
            "Connection": "close",
        }
        if self.key is not None:
            headers["X-Signature"] = rsa_sign(self.key, body)
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        connection = cls(self.host, self.port, timeout=TIMEOUT)
        try:
            connection.request("POST", self.path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            raise Lost(f"no answer: {error}")
        finally:
            connection.close()
        if status == 401:
            raise Configuration("processing refused the device's credentials (401)")
        if status >= 500 and not raw:
            raise Lost(f"HTTP {status}")
        try:
            root = ET.fromstring(raw)
        except ET.ParseError as error:
            # A 200 whose body is cut is an answer lost on the way (the request may be booked).
            raise Lost(f"HTTP {status}, unreadable answer: {error}")
        if status >= 500:
            raise Lost(f"HTTP {status}")
        code = root.findtext("ErrorCode")
        wrapper = [child for child in root if child.tag not in ("Version", "ErrorCode", "ErrorMessage")]
        if (code is not None and code.strip() not in ("", "0")) or not wrapper or not len(wrapper[0]):
            raise EnvelopeError(
                f"{code_name(code or '?')}: {root.findtext('ErrorMessage') or ''}".strip()
            )
        return wrapper[0][0]


def element(tag, attrs=None, children=()):
    node = ET.Element(tag)
    for key, value in (attrs or {}).items():
        if value is not None:
            node.set(key, str(value))
    for child in children:
        if child is not None:
            node.append(child)
    return node


def document(wrapper, request):
    root = ET.Element("XMLRequest")
    ET.SubElement(root, "Version").text = "3.2"
    ET.SubElement(root, wrapper).append(request)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def now_local():
    return datetime.datetime.now().astimezone().replace(microsecond=0).isoformat()


# --- the till -------------------------------------------------------------------------------


IDENTIFIER_TYPES = {
    "barcode": "CardBarCode",
    "card": "CardNumber",
    "track": "CardTrack2",
    "phone": "Phone",
    "qr": "QrCode",
    "auto": "Auto",
}


def normalise_phone(value):
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if len(digits) != 10:
        return digits  # as typed; processing decides
    return "7" + digits


def track2(value):
    """The second track of a raw magnetic stripe read, sentinels included (`;…=…?`)."""
    match = re.search(r";[^;?]*\?", value)
    if match:
        return "CardTrack2", match.group(0)
    return "Auto", value


def identifier_element(identifier):
    if not identifier:
        return None
    kind = identifier.get("kind", "auto")
    value = str(identifier["value"])
    id_type = IDENTIFIER_TYPES.get(kind, "Auto")
    if kind == "phone":
        value = normalise_phone(value)
    elif kind == "track":
        id_type, value = track2(value)
    return element("Identifier", {"Type": id_type, "Value": value})


class Line:
    def __init__(self, spec):
        self.pos_id = str(spec["posId"])
        self.goods_id = str(spec["goodsId"])
        self.price = dec(spec["price"])
        self.quantity = dec(spec.get("quantity", "1"))
        self.name = spec.get("name")
        self.promo = spec.get("promo")
        self.min_price = spec.get("minPrice")
        self.local_discount = dec(spec.get("localDiscount"))
        self.has_local_discount = spec.get("localDiscount") is not None

    def gross(self, quantity=None):
        quantity = self.quantity if quantity is None else quantity
        return (self.price * quantity).quantize(KOPECK, rounding=ROUND_HALF_UP)

    def amount(self, quantity=None):
        if quantity is None or quantity == self.quantity:
            return self.gross() - self.local_discount
        share = (self.local_discount * quantity / self.quantity).quantize(KOPECK, rounding=ROUND_HALF_UP)
        return self.gross(quantity) - share

    def xml(self, quantity=None):
        quantity = self.quantity if quantity is None else quantity
        attrs = {
            "PosID": self.pos_id,
            "GoodsId": self.goods_id,
            "Name": self.name,
            "Price": money(self.price),
            "Quantity": f"{quantity.quantize(Decimal('0.001'))}",
            "Amount": money(self.amount(quantity)),
        }
        if self.promo is not None:
            # An XML boolean: the documents take 1/0 as well as true/false.
            attrs["IsPromo"] = "1" if self.promo else "0"
        if self.min_price is not None:
            attrs["MinPrice"] = money(self.min_price)
        if self.has_local_discount:
            attrs["LocalDiscount"] = money(self.local_discount)
        return element("ChequeLine", attrs)


def purchase_children(lines, at, identifier, coupons):
    """What a purchase's Calculate, Payment and Discount carry: the cheque, who buys, coupons."""
    return [cheque_element(lines, at), identifier_element(identifier), coupons_element(coupons)]


def cheque_element(lines, at, quantities=None):
    node = element("Cheque", {"ChequeDate": at})
    for line in lines:
        if quantities is None:
            node.append(line.xml())
        else:
            node.append(line.xml(quantities[line.pos_id]))
    return node


def coupons_element(coupons):
    if not coupons:
        return None
    return element("Coupons", children=[element("Coupon", {"Number": str(c)}) for c in coupons])


class Receipt:
    """What the till collected from processing's answers for one purchase."""

    def __init__(self):
        self.cashier_messages = []
        self.cheque_messages = []
        self.coupons = None
        self.issued = []

    def show(self, answer, printed):
        for node in answer.iter():
            text = (node.text or "").strip()
            if node.tag == "CashierMessage" and text and text not in self.cashier_messages:
                self.cashier_messages.append(text)
            if printed and node.tag == "ChequeMessage" and text and text not in self.cheque_messages:
                self.cheque_messages.append(text)
        coupons = answer.find("Coupons")
        if coupons is not None and len(coupons):
            self.coupons = [
                {
                    "number": c.get("Number"),
                    "applied": (c.get("Applied") or "").lower() in ("true", "1"),
                }
                for c in coupons.findall("Coupon")
            ]
        issued = answer.find("IssuedCoupons")
        if issued is not None:
            for c in issued.findall("Coupon"):
                self.issued.append(
                    {"number": c.get("Number"), "barcode": c.get("Barcode"), "format": c.get("Format")}
                )


def lines_sum(answer, attribute):
    total = Decimal("0")
    cheque = answer.find("Cheque")
    if cheque is not None:
        for line in cheque.findall("ChequeLine"):
            total += dec(line.get(attribute))
    return total


class Till:
    def __init__(self, processing):
        self.processing = processing

    def request(self, wrapper, tag, attrs, children=(), at=None):
        common = {
            "ElementID": "1",
            "OperationID": uuid.uuid4().hex,
            "OperationDate": at or now_local(),
            "DeviceLogicalID": self.processing.login or None,
        }
        common.update(attrs)
        return document(wrapper, element(tag, common, children))

    def send(self, body, retry=False, stage=None):
        """Send a request; when `retry`, a lost answer is asked for once more with the same bytes
        (the same OperationID: processing answers a replay with the stored answer). `stage` names
        the step in a failure's result (`stage`)."""
        try:
            try:
                answer = self.processing.post(body)
            except Lost:
                if not retry:
                    raise
                answer = self.processing.post(body)
            code = answer.get("ErrorCode", "0")
            if code.strip() not in ("", "0"):
                raise Refused(code, answer.get("ErrorMessage"), answer)
        except FAILURES as failure:
            failure.stage = stage
            raise
        return answer

    # balance

    def balance(self, action):
        at = action.get("at") or now_local()
        body = self.request("Balances", "BalanceRequest", {}, [identifier_element(action["identifier"])], at)
        answer = self.send(body)
        result = {"status": "completed", "balance": money(answer.get("BonusAmount"))}
        data = answer.find("IdentifierData")
        if data is not None:
            result["identifierData"] = {i.get("Name"): i.text for i in data.findall("Item")}
        return result

    # purchase

    def cancel(self, purchase_id, at):
        body = self.request("CancelPurchases", "CancelPurchaseRequest", {"PurchaseID": purchase_id}, [], at)
        try:
            self.send(body, retry=True)
            return True
        except FAILURES:
            return False

    def sell(self, action):
        """Calculate (again when the receipt changed), write off at most what processing allows,
        send the final cheque (Discount), confirm. Returns (result, purchase id, the lines sold)."""
        at = action.get("at") or now_local()
        lines = [Line(spec) for spec in action["cheque"]]
        identifier = action.get("identifier")
        coupons = action.get("coupons") or []
        purchase_id = uuid.uuid4().hex
        receipt = Receipt()

        def calculate(cheque_lines):
            body = self.request(
                "Calculates",
                "CalculateRequest",
                {"PurchaseID": purchase_id},
                purchase_children(cheque_lines, at, identifier, coupons),
                at,
            )
            answer = self.send(body, stage="calculate")
            receipt.show(answer, printed=False)
            return answer

        try:
            calculation = calculate(lines)
        except Lost:
            return self.sell_offline(lines, identifier, coupons, purchase_id, at), purchase_id, lines
        if action.get("recalculate"):
            lines = [Line(spec) for spec in action["recalculate"]]
            calculation = calculate(lines)

        total = sum((line.amount() for line in lines), Decimal("0"))
        discount = lines_sum(calculation, "Discount")
        written_off = Decimal("0")
        try:
            wanted = action.get("writeOff")
            available = dec(calculation.get("AvailableAmount"))
            if wanted is not None and identifier:
                amount = available if str(wanted) == "max" else min(dec(wanted), available)
                if amount > 0:
                    body = self.request(
                        "Payments",
                        "PaymentRequest",
                        {"PurchaseID": purchase_id, "Amount": money(amount), "PinCode": action.get("pin")},
                        purchase_children(lines, at, identifier, coupons),
                        at,
                    )
                    payment = self.send(body, retry=True, stage="payment")
                    receipt.show(payment, printed=True)
                    written_off = dec(payment.get("BonusAmount") or payment.get("Amount"))
            if action.get("then") == "abandon":
                result = {
                    "status": "cancelled",
                    "total": money(total),
                    "writtenOff": money(written_off),
                    "cashierMessages": receipt.cashier_messages,
                }
                if not self.cancel(purchase_id, at):
                    # The points may still be held: the cashier must know.
                    result.update(cancelled=False, cancelError="the cancellation was refused or got no answer")
                return result, purchase_id, lines
            body = self.request(
                "Discounts",
                "DiscountRequest",
                {"PurchaseID": purchase_id},
                purchase_children(lines, at, identifier, coupons),
                at,
            )
            final = self.send(body, retry=True, stage="discount")
            receipt.show(final, printed=True)
        except FAILURES:
            self.cancel(purchase_id, at)
            raise
        if final.find("Cheque") is not None:
            discount = lines_sum(final, "Discount")
        accrued = dec(final.get("BonusAmount"))
        # Confirm: never cancelled after this point (the confirmation may be booked).
        body = self.request("ConfirmPurchases", "ConfirmPurchaseRequest", {"PurchaseID": purchase_id}, [], at)
        confirm = self.send(body, retry=True, stage="confirm-purchase")
        receipt.show(confirm, printed=False)
        result = {
            "status": "completed",
            "total": money(total),
            "discount": money(discount),
            "writtenOff": money(written_off),
            "toPay": money(total - discount - written_off),
            "accrued": money(accrued),
            "cashierMessages": receipt.cashier_messages,
            "chequeMessages": receipt.cheque_messages,
        }
        if receipt.coupons is not None:
            result["coupons"] = receipt.coupons
        if receipt.issued:
            result["issuedCoupons"] = receipt.issued
        if final.get("TransactionID"):
            result["transactionId"] = final.get("TransactionID")
        return result, purchase_id, lines

    def sell_offline(self, lines, identifier, coupons, purchase_id, at):
        """Processing did not answer the calculation: sell without points and discounts, then
        upload the stored receipt (Discount + Confirm with the original dates)."""
        total = sum((line.amount() for line in lines), Decimal("0"))
        result = {
            "status": "completed",
            "offline": True,
            "total": money(total),
            "discount": "0.00",
            "writtenOff": "0.00",
            "toPay": money(total),
            "cashierMessages": [],
            "chequeMessages": [],
        }
        try:
            body = self.request(
                "Discounts",
                "DiscountRequest",
                {"PurchaseID": purchase_id},
                purchase_children(lines, at, identifier, coupons),
                at,
            )
            final = self.send(body, retry=True)
            body = self.request("ConfirmPurchases", "ConfirmPurchaseRequest", {"PurchaseID": purchase_id}, [], at)
            self.send(body, retry=True)
        except FAILURES as error:
            result["uploaded"] = False
            result["message"] = f"stored for upload: {error}"
            return result
        result["uploaded"] = True
        result["accrued"] = money(final.get("BonusAmount"))
        return result

    def purchase(self, action):
        result, purchase_id, lines = self.sell(action)
        # An offline sale is not in processing yet: there is nothing to refund there.
        if action.get("then") != "void" or result.get("status") != "completed" or result.get("offline"):
            return result
        at = action.get("at") or now_local()
        refund = self.refund_lines(purchase_id, lines, {line.pos_id: line.quantity for line in lines}, at)
        refund["voided"] = True
        refund["sale"] = result
        return refund

    def refund_lines(self, original, lines, quantities, at):
        returned = [line for line in lines if line.pos_id in quantities]
        refund_id = uuid.uuid4().hex
        body = self.request(
            "Refunds",
            "RefundRequest",
            {"PurchaseID": refund_id, "RefundPurchaseID": original},
            [cheque_element(returned, at, quantities)],
            at,
        )
        try:
            answer = self.send(body, retry=True, stage="refund")
        except FAILURES:
            self.cancel(refund_id, at)
            raise
        messages = Receipt()
        messages.show(answer, printed=True)
        body = self.request("ConfirmPurchases", "ConfirmPurchaseRequest", {"PurchaseID": refund_id}, [], at)
        confirm = self.send(body, retry=True, stage="confirm-purchase")
        messages.show(confirm, printed=False)
        points = lines_sum(answer, "PayAmount")
        cashback = lines_sum(answer, "Cashback")
        return {
            "status": "completed",
            "pointsReturned": money(abs(points)),
            "accrualCancelled": money(abs(cashback)),
            "cashierMessages": messages.cashier_messages,
            "chequeMessages": messages.cheque_messages,
        }

    def refund(self, action):
        sale, purchase_id, lines = self.sell(dict(action, then=None))
        if sale.get("status") != "completed" or sale.get("offline"):
            return sale
        by_pos = {line.pos_id: line for line in lines}
        quantities = {}
        for item in action["returned"]:
            pos_id = str(item["posId"])
            line = by_pos[pos_id]
            quantities[pos_id] = dec(item["quantity"]) if item.get("quantity") is not None else line.quantity
        at = action.get("at") or now_local()
        result = self.refund_lines(purchase_id, lines, quantities, at)
        result["sale"] = sale
        return result

    # card issue and replacement

    def card_replace(self, action):
        at = action.get("at") or now_local()
        new_card = element("NewCard", {"Number": str(action["newCard"]), "Password": action.get("password")})
        body = self.request(
            "CardReplaces",
            "CardReplaceRequest",
            {},
            [identifier_element(action.get("identifier")), new_card],
            at,
        )
        answer = self.send(body, stage="card-replace")
        receipt = Receipt()
        receipt.show(answer, printed=True)
        result = {"status": "completed", "card": str(action["newCard"])}
        for attribute, key in (("BonusAmount", "balance"), ("Balance", "balance")):
            if answer.get(attribute) is not None:
                result[key] = money(answer.get(attribute))
        if receipt.cashier_messages:
            result["cashierMessages"] = receipt.cashier_messages
        return result


def perform(till, action):
    kind = action.get("type")
    if kind == "loymax-balance":
        return till.balance(action)
    if kind == "loymax-purchase":
        return till.purchase(action)
    if kind == "loymax-refund":
        return till.refund(action)
    if kind == "loymax-card-replace":
        return till.card_replace(action)
    return {"status": "error", "message": f"unknown action {kind}"}


def main():
    text = sys.stdin.read() or os.environ.get("POSSIM_ACTION", "")
    action = json.loads(text)
    try:
        result = perform(Till(Processing()), action)
    except Refused as refused:
        result = {"status": "refused", "error": refused.name, "message": str(refused)}
        if getattr(refused, "stage", None):
            result["stage"] = refused.stage
    except Configuration as config:
        result = {"status": "error", "reason": "configuration", "message": str(config)}
    except (Lost, EnvelopeError) as error:
        result = {"status": "error", "message": str(error)}
        if getattr(error, "stage", None):
            result["stage"] = error.stage
    except Exception as error:  # noqa: BLE001 - the driver still gets one result line
        result = {"status": "error", "message": f"{type(error).__name__}: {error}"}
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
