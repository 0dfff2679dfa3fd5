//! What a PAYBACK request asks for, named for the journal (`Provider::classify`): the
//! conformance judge tells the requests a till may repeat at will from those that book
//! something by it.
//!
//! Lookups, PIN checks, coupon dry runs, the connection test and the health check read (a PIN
//! check counts failures, but a till asking again is exactly what the PIN scenarios judge); every
//! other POST books. Names follow the routes: `member.lookup`, `member.authenticate`,
//! `coupon.validate`, `auth.test`, `health`, `purchase`, `purchase.reversal`, `redemption`,
//! `redemption.reversal`, `coupon.activate`, `branch.geolocation`; anything else is `unknown`.

use possim_engine::journal::{HttpRequestRecord, Operation};

/// Paths that never change state, with their operation names.
const READS: &[(&str, &str)] = &[
    ("/members/lookup", "member.lookup"),
    ("/members/authenticate", "member.authenticate"),
    ("/coupons/validate", "coupon.validate"),
    ("/auth/test", "auth.test"),
];

/// The operation of a request to the PAYBACK mock.
pub fn classify(request: &HttpRequestRecord) -> Operation {
    let path = request.path.as_str();
    let post = request.method.eq_ignore_ascii_case("POST");
    if let Some((_, name)) = READS.iter().find(|(p, _)| *p == path) {
        return Operation::read(*name);
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let name = match segments.as_slice() {
        ["health"] => "health",
        ["purchases"] => "purchase",
        ["purchases", _, "reversal"] => "purchase.reversal",
        ["redemptions"] => "redemption",
        ["redemptions", _, "reversal"] => "redemption.reversal",
        ["coupons", "activate"] => "coupon.activate",
        ["branches", _, "geolocation"] => "branch.geolocation",
        _ => "unknown",
    };
    Operation {
        name: name.to_owned(),
        write: post,
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
            body: RecordedBody::from_bytes(b"{}"),
        });
        (operation.name, operation.write)
    }

    #[test]
    fn lookups_pin_checks_dry_runs_and_the_connection_test_read() {
        assert_eq!(op("POST", "/members/lookup"), ("member.lookup".into(), false));
        assert_eq!(
            op("POST", "/members/authenticate"),
            ("member.authenticate".into(), false)
        );
        assert_eq!(op("POST", "/coupons/validate"), ("coupon.validate".into(), false));
        assert_eq!(op("POST", "/auth/test"), ("auth.test".into(), false));
        assert_eq!(op("GET", "/health"), ("health".into(), false));
    }

    #[test]
    fn bookings_write() {
        assert_eq!(op("POST", "/purchases"), ("purchase".into(), true));
        assert_eq!(
            op("POST", "/purchases/P-1/reversal"),
            ("purchase.reversal".into(), true)
        );
        assert_eq!(op("POST", "/redemptions"), ("redemption".into(), true));
        assert_eq!(
            op("POST", "/redemptions/R-1/reversal"),
            ("redemption.reversal".into(), true)
        );
        assert_eq!(op("POST", "/coupons/activate"), ("coupon.activate".into(), true));
        assert_eq!(
            op("POST", "/branches/7/geolocation"),
            ("branch.geolocation".into(), true)
        );
        assert_eq!(op("POST", "/nowhere"), ("unknown".into(), true));
        assert_eq!(op("GET", "/purchases"), ("purchase".into(), false));
    }
}
