//! The shop's side of the Paygate envelope, for possim's own clients — the reference shop
//! (`possim pos computop`), the end-to-end tests and the benchmark: seal a request, open an
//! answer or a callback, sign, and build a complete PAYBACK PAY sale. (The independent client
//! that checks the mock is `tests/clients/computop_client.py`, written apart from this code.)

use base64::Engine as _;
use serde_json::json;

use crate::crypto::{self, Cipher, CryptoError, Padding};
use crate::form::Fields;

/// A merchant's three secrets, as the shop holds them.
#[derive(Debug, Clone)]
pub struct Account {
    /// MerchantID.
    pub merchant_id: String,
    /// The HMAC password (MAC).
    pub hmac_password: String,
    /// The Blowfish or AES password (Data).
    pub crypt_password: String,
    /// Blowfish or AES.
    pub cipher: Cipher,
}

impl Account {
    /// The request MAC over `PayID*TransID*MerchantID*Amount*Currency` (the fields' own values,
    /// empty when absent).
    pub fn request_mac(&self, fields: &Fields) -> String {
        let get = |k: &str| fields.get(k).unwrap_or("");
        crypto::mac(
            &self.hmac_password,
            &[
                get("PayID"),
                get("TransID"),
                &self.merchant_id,
                get("Amount"),
                get("Currency"),
            ],
        )
    }

    /// Whether a Paygate message's MAC (over `PayID*TransID*mid*Status*Code`) verifies and it
    /// names this merchant.
    pub fn verify(&self, fields: &Fields) -> bool {
        let get = |k: &str| fields.get(k).unwrap_or("");
        get("mid") == self.merchant_id
            && crypto::mac_matches(
                &self.hmac_password,
                &[get("PayID"), get("TransID"), get("mid"), get("Status"), get("Code")],
                get("MAC"),
            )
    }

    /// `MerchantID=…&Len=…&Data=…` for `fields` (NUL padding, as most PHP clients send).
    pub fn seal(&self, fields: &Fields) -> Result<String, CryptoError> {
        let (len, data) = crypto::encrypt(self.cipher, &self.crypt_password, &fields.encode(), Padding::Nul)?;
        Ok(format!(
            "MerchantID={}&Len={len}&Data={data}",
            crate::form::urlencode(&self.merchant_id)
        ))
    }

    /// The fields of a Paygate message (`outer` holds a body's or query's pairs): decrypted
    /// `Data` cut at `Len`, or the pairs themselves for an unencrypted message.
    pub fn open(&self, outer: &Fields) -> Result<Fields, CryptoError> {
        match (outer.get("Len"), outer.get("Data")) {
            (Some(len), Some(data)) => {
                let len = crypto::parse_len(Some(len))?;
                let plain = crypto::decrypt(self.cipher, &self.crypt_password, len, data)?;
                Ok(Fields::parse(&plain.plain, false))
            }
            _ => Ok(outer.clone()),
        }
    }
}

/// A complete PAYBACK PAY sale request (every mandatory field of seed 003, MAC included) for
/// `amount` cents of one article at 19 % VAT, with the callbacks under `shop` (`/success`,
/// `/failure`, `/notify`). `customer_id` given: a bound account (`IsBound=True`).
pub fn sale_request(
    account: &Account,
    trans_id: &str,
    amount: i64,
    shop: &str,
    account_id: &str,
    customer_id: Option<&str>,
) -> Fields {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::STANDARD.encode(v.to_string());
    // The VAT contained in a gross amount at 19 %, as the seed's VatList asks for it.
    let vat = amount - (amount as f64 / 1.19).round() as i64;
    let mut f = Fields::default();
    f.push("MerchantID", account.merchant_id.clone());
    f.push("TransID", trans_id);
    f.push("Amount", amount.to_string());
    f.push("Currency", "EUR");
    f.push("URLSuccess", format!("{shop}/success"));
    f.push("URLFailure", format!("{shop}/failure"));
    f.push("URLNotify", format!("{shop}/notify"));
    f.push("Response", "encrypt");
    f.push("VatList", b64(json!({"items": [{"rate": 19, "amount": vat.max(1)}]})));
    f.push(
        "ArticleList",
        b64(
            json!({"items": [{"itemReference": "1", "id": "ORDER", "name": "Order", "quantity": "1",
            "amount": amount, "vatAmount": vat, "vatPercent": 19, "type": "GOODS"}]}),
        ),
    );
    f.push("AccountID", account_id);
    match customer_id {
        Some(id) => {
            f.push("CustomerID", id);
            f.push("IsBound", "True");
        }
        None => f.push("IsBound", "False"),
    }
    f.push("CustomerGroup", "KNOWN");
    f.push("sdCountryCode", "DE");
    f.push("MAC", account.request_mac(&f));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_mac_is_computops_vector() {
        // Computop's own example (spec §1.13): key mySecret, *TID-4453732122167114558*yourMerchantId*1234*EUR.
        let account = Account {
            merchant_id: "yourMerchantId".into(),
            hmac_password: "mySecret".into(),
            crypt_password: "16CharKeyLength!".into(),
            cipher: Cipher::Blowfish,
        };
        let fields: Fields = [
            ("TransID", "TID-4453732122167114558"),
            ("Amount", "1234"),
            ("Currency", "EUR"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            account.request_mac(&fields),
            "38CED807E293FC634A6C36FFAEA7BD2687038D40615781918AEF2DE7BB9A9903"
        );
    }

    #[test]
    fn a_sale_of_55_euros_carries_8_78_of_vat() {
        let account = Account {
            merchant_id: "m".into(),
            hmac_password: "h".into(),
            crypt_password: "16CharKeyLength!".into(),
            cipher: Cipher::Blowfish,
        };
        let sale = sale_request(&account, "T", 5500, "http://shop", "9876543210", None);
        let items = crate::validate::decode_list(sale.get("VatList").unwrap()).unwrap();
        // 55.00 gross at 19 %: 55.00 − 55.00 / 1.19 = 8.78.
        assert_eq!(items[0]["amount"], 878);
        assert!(crate::validate::check(crate::validate::SALE, &sale).is_ok());
    }
}
