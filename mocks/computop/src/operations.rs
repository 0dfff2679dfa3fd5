//! What a request to the Paygate asks for, named for the journal (`Provider::classify`): the
//! conformance judge tells the requests a shop may repeat at will from those that book
//! something by it.
//!
//! The page decides, whatever the method (the Paygate takes GET and POST alike, and IIS serves
//! the pages case-insensitively): `sale` (PaybackPay.aspx) and `credit` write, `inquire` reads;
//! an unknown page is `unknown` and counts as a write, as anything the judge cannot name.
//! What the Paygate sends to the shop (notifies, the browser return) is journalled as outbound
//! and never classified.

use possim_engine::journal::{HttpRequestRecord, Operation};

use crate::paygate::Endpoint;

/// The operation of a request to the Paygate.
pub fn classify(request: &HttpRequestRecord) -> Operation {
    match Endpoint::from_path(&request.path) {
        Some(Endpoint::Sale) => Operation::write("sale"),
        Some(Endpoint::Credit) => Operation::write("credit"),
        Some(Endpoint::Inquire) => Operation::read("inquire"),
        None => Operation::write("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_engine::journal::RecordedBody;

    fn op(method: &str, path: &str) -> (String, bool) {
        let operation = classify(&HttpRequestRecord {
            method: method.into(),
            path: path.into(),
            query: None,
            headers: Vec::new(),
            body: RecordedBody::from_bytes(b"MerchantID=m&Len=8&Data=00"),
        });
        (operation.name, operation.write)
    }

    #[test]
    fn an_inquiry_reads_and_everything_else_writes() {
        assert_eq!(op("GET", "/inquire.aspx"), ("inquire".into(), false));
        assert_eq!(op("POST", "/Inquire.ASPX"), ("inquire".into(), false));
        assert_eq!(op("GET", "/PaybackPay.aspx"), ("sale".into(), true));
        assert_eq!(op("POST", "/paybackpay.aspx"), ("sale".into(), true));
        assert_eq!(op("POST", "/credit.aspx"), ("credit".into(), true));
        assert_eq!(op("GET", "/other.aspx"), ("unknown".into(), true));
    }
}
