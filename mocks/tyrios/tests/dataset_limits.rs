//! Data sets whose ids or balances could overflow the mock's counters are refused at load, with
//! the field named, and the mock keeps the state it had.

use std::sync::Arc;

use possim_engine::clock::Clock;
use possim_engine::dataset::DataSet;
use possim_engine::provider::Provider;
use possim_tyrios::TyriosMock;

const BASE: &str = r#"
[[companies]]
id = 6
companyName = "Test"
bonusPointMode = "percentage"
bonusPointPercentage = 0.02
couponEnvironment = "fully-digital"
[[credentials]]
login = "demo"
password = "demo"
company = 6
"#;

fn load(extra: &str) -> Result<(), String> {
    load_text(&format!("{BASE}{extra}"))
}

/// Top-level keys must precede the tables in TOML.
fn load_with_header(header: &str) -> Result<(), String> {
    load_text(&format!("{header}{BASE}"))
}

fn load_text(text: &str) -> Result<(), String> {
    let mock = TyriosMock::new(Arc::new(Clock::frozen(1_572_351_844_000)));
    let set = DataSet::from_files("limits", [("tyrios.toml", text)]).map_err(|e| e.to_string())?;
    mock.load(&set).map_err(|e| e.to_string())
}

#[test]
fn ids_up_to_2_pow_53_minus_1_load() {
    // 2^53 - 1 = 9007199254740991, the largest integer a JavaScript client reads exactly.
    load("[[users]]\nid = 9007199254740991\nuniqueUserHash = \"UQBUFDJALK4WXYC\"\npoints = 10\n").unwrap();
}

#[test]
fn larger_ids_and_counters_are_refused() {
    let cases = [
        (
            "[[users]]\nid = 9007199254740992\nuniqueUserHash = \"UQBUFDJALK4WXYC\"\n",
            "user 9007199254740992: id",
        ),
        (
            "[[coupons]]\nid = 9223372036854775807\ncouponCode = \"AB4DEFGH\"\ncouponValue = 5.0\nstate = \"active\"\n",
            "coupon AB4DEFGH: id",
        ),
    ];
    for (extra, named) in cases {
        let err = load(extra).unwrap_err();
        assert!(err.contains(named) && err.contains("9007199254740991"), "{err}");
    }
    let err = load_with_header("nextTransactionId = 9223372036854775807\n").unwrap_err();
    assert!(err.contains("nextTransactionId"), "{err}");
}

#[test]
fn balances_that_would_overflow_are_refused() {
    let extra = "[[users]]\nid = 1\nuniqueUserHash = \"UQBUFDJALK4WXYC\"\n\
                 lots = [{ points = 9223372036854775807, validUntil = 1672527600000 }, \
                 { points = 9223372036854775807, validUntil = 1672527600001 }]\n";
    let err = load(extra).unwrap_err();
    assert!(err.contains("user 1") && err.contains("points"), "{err}");
}
