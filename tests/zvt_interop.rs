//! An ECR we did not write — the `zvt` crate from crates.io (TCP) — completes registration, a
//! status enquiry, a pre-authorisation, its reversal and End-of-Day against the virtual
//! terminal. Its parsers are strict: a BMP in the wrong format or an unexpected message fails
//! here, which is the point.

use futures::StreamExt;
use tokio::net::TcpStream;
use zvt::packets;
use zvt::sequences::{self, Sequence};

use crate::util::Possim;

#[tokio::test]
async fn the_zvt_crate_registers_enquires_pre_authorises_and_closes_the_day() {
    let p = Possim::start("", &[]).await;
    let mut link = TcpStream::connect(&p.zvt).await.unwrap();

    // Registration: password 000000, config 08 (intermediate status to the ECR; receipts at
    // the PT), EUR.
    let registration = packets::Registration {
        password: 0,
        config_byte: 0x08,
        currency: Some(978),
        tlv: None,
    };
    let answers: Vec<_> = sequences::Registration::into_stream(&registration, &mut link)
        .collect()
        .await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    let sequences::RegistrationResponse::CompletionData(_) = answers[0].as_ref().unwrap();

    let enquiry = packets::StatusEnquiry {
        password: None,
        service_byte: None,
        tlv: None,
    };
    let answers: Vec<_> = sequences::StatusEnquiry::into_stream(&enquiry, &mut link)
        .collect()
        .await;
    match answers.last().unwrap().as_ref().unwrap() {
        sequences::StatusEnquiryResponse::CompletionData(c) => assert_eq!(c.status_byte, None),
        other => panic!("expected the completion, got {other:?}"),
    }

    // Pre-authorisation of 25.00 EUR: status information with amount and receipt, then 06 0F.
    let reservation = packets::Reservation {
        amount: Some(2500),
        currency: Some(978),
        ..packets::Reservation::default()
    };
    let answers: Vec<_> = sequences::Reservation::into_stream(&reservation, &mut link)
        .map(|a| a.unwrap())
        .collect()
        .await;
    let status = answers
        .iter()
        .find_map(|a| match a {
            sequences::AuthorizationResponse::StatusInformation(s) => Some(s),
            _ => None,
        })
        .expect("a status information");
    assert_eq!((status.result_code, status.amount), (Some(0), Some(2500)));
    let receipt = status.receipt_no.expect("the pre-authorisation has a receipt number");
    assert!(
        matches!(
            answers.last(),
            Some(sequences::AuthorizationResponse::CompletionData(_))
        ),
        "{answers:?}"
    );

    // The open pre-authorisation is released, then the day closes.
    let release = packets::PreAuthReversal {
        payment_type: None,
        currency: Some(978),
        receipt_no: Some(receipt),
    };
    let answers: Vec<_> = sequences::PreAuthReversal::into_stream(&release, &mut link)
        .map(|a| a.unwrap())
        .collect()
        .await;
    assert!(
        matches!(
            answers.last(),
            Some(sequences::PartialReversalResponse::CompletionData(_))
        ),
        "{answers:?}"
    );

    let answers: Vec<_> = sequences::EndOfDay::into_stream(&packets::EndOfDay { password: 0 }, &mut link)
        .map(|a| a.unwrap())
        .collect()
        .await;
    assert!(
        matches!(answers.last(), Some(sequences::EndOfDayResponse::CompletionData(_))),
        "{answers:?}"
    );
    let state = p.admin("GET", "/__admin/state/zvt", None).await.1;
    assert_eq!(state["preAuthorisations"], serde_json::json!([]));
}
