//! The admin API and the command line: health, reset, data sets, clock, journal, shutdown, errors.

use serde_json::{Value, json};

use crate::util::Possim;

#[tokio::test]
async fn health_reset_and_data_set_switching() {
    let possim = Possim::start("seed-examples", &[]).await;
    let (status, health) = possim.admin("GET", "/__admin/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (health["status"].clone(), health["providers"].clone()),
        (json!("ok"), json!(["tyrios", "computop", "payback", "loymax", "zvt"]))
    );
    assert_eq!(health["endpoints"]["payback"], possim.payback.as_str());
    assert_eq!(health["endpoints"]["loymax"], possim.loymax.as_str());
    assert_eq!(health["endpoints"]["computop"], possim.computop.as_str());
    assert_eq!(health["clock"]["iso"], "2019-10-29T12:24:04Z");

    // Change state, then reset brings the data set back.
    possim
        .tyrios(
            "POST",
            "/BonusPointManagement/BonusPointTransaction/specialPoints",
            Some(r#"{"UserData":"UQBUFDJALK4WXYC","obtainedPoints":7,"productGroup":"x","userMode":"HASH"}"#),
        )
        .await;
    possim
        .admin("POST", "/__admin/clock/advance", Some(json!({"by": "3d"})))
        .await;
    assert_eq!(possim.tyrios_state().await["users"][0]["currentBonusPoints"], 220);
    let (status, _) = possim.admin("POST", "/__admin/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(possim.tyrios_state().await["users"][0]["currentBonusPoints"], 213);
    assert_eq!(
        possim.admin("GET", "/__admin/clock", None).await.1["now"],
        1572351844000i64
    );
    assert_eq!(
        possim.admin("GET", "/__admin/journal", None).await.1["entries"],
        json!([])
    );

    // Switch to the default set: real clock, other companies.
    let (status, loaded) = possim
        .admin("POST", "/__admin/dataset", Some(json!({"name": "default"})))
        .await;
    assert_eq!((status, loaded["loaded"].clone()), (200, json!("default")));
    assert_eq!(possim.admin("GET", "/__admin/clock", None).await.1["frozen"], false);
    // The bakery's login exists only in the default set.
    let (status, _) = possim
        .tyrios_as("bakery", "GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(status, 200);
    // A change since the load (5 special points) must survive the refused load below: refusing
    // a set is not a reset.
    let user = "/BonusPointManagement/UserData/UQBUFDJALK4WXYC";
    let points = async || possim.tyrios_as("bakery", "GET", user, None).await.1["currentBonusPoints"].clone();
    let loaded_points = points().await.as_i64().expect("the user's points");
    let (status, answer) = possim
        .tyrios_as(
            "bakery",
            "POST",
            "/BonusPointManagement/BonusPointTransaction/specialPoints",
            Some(r#"{"userMode":"HASH","UserData":"UQBUFDJALK4WXYC","productGroup":"x","obtainedPoints":5}"#),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(points().await, json!(loaded_points + 5));
    let (status, err) = possim
        .admin("POST", "/__admin/dataset", Some(json!({"name": "nope"})))
        .await;
    assert_eq!(status, 404);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("built-in sets: default, seed-examples"),
        "{err}"
    );
    // A refused set leaves the previous one loaded, and the running state as it was.
    assert_eq!(possim.admin("GET", "/__admin/dataset", None).await.1["name"], "default");
    assert_eq!(points().await, json!(loaded_points + 5));
}

#[tokio::test]
async fn clock_and_journal_control() {
    let possim = Possim::start("seed-examples", &["--journal-capacity", "3"]).await;
    let (status, clock) = possim
        .admin("PUT", "/__admin/clock", Some(json!({"time": "2021-01-01T00:00:00Z"})))
        .await;
    assert_eq!((status, clock["now"].clone()), (200, json!(1609459200000i64)));
    let (status, err) = possim
        .admin("PUT", "/__admin/clock", Some(json!({"time": "tomorrow"})))
        .await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("RFC 3339"), "{err}");
    let (status, err) = possim
        .admin("POST", "/__admin/clock/advance", Some(json!({"by": "3 weeks"})))
        .await;
    assert_eq!(status, 400, "{err}");
    // Times beyond year 9999 (or before 1970) are refused, not wrapped: every provider's date
    // arithmetic stays in range, and the clock is left where it was.
    for (method, path, body) in [
        ("PUT", "/__admin/clock", json!({"time": i64::MAX})),
        ("PUT", "/__admin/clock", json!({"time": -1})),
        ("POST", "/__admin/clock/advance", json!({"by": "106751991167d"})),
        ("POST", "/__admin/clock/advance", json!({"by": i64::MIN})),
    ] {
        let (status, err) = possim.admin(method, path, Some(body)).await;
        assert_eq!(status, 400, "{err}");
        assert!(
            err["error"].as_str().unwrap().contains("9999-12-31T23:59:59.999Z"),
            "{err}"
        );
    }
    assert_eq!(
        possim.admin("GET", "/__admin/clock", None).await.1["now"],
        1609459200000i64
    );

    for _ in 0..5 {
        possim
            .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
            .await;
    }
    let (_, journal) = possim.admin("GET", "/__admin/journal", None).await;
    assert_eq!(
        journal["stats"],
        json!({"enabled": true, "len": 3, "capacity": 3, "dropped": 2})
    );
    let entry = &journal["entries"][2];
    assert_eq!(entry["transport"], "http");
    assert_eq!(entry["provider"], "tyrios");
    assert_eq!(entry["at"], 1609459200000i64, "engine time");
    assert_eq!(
        entry["request"]["path"],
        "/BonusPointManagement/UserData/UQBUFDJALK4WXYC"
    );
    assert_eq!(entry["response"]["status"], 200);
    assert!(
        entry["response"]["body"]["text"]
            .as_str()
            .unwrap()
            .contains("\"currentBonusPoints\":213")
    );

    let export = possim
        .client()
        .get(format!("{}/__admin/journal/export?since=4", possim.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/x-ndjson");
    let text = export.text().await.unwrap();
    let ids: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [5]);

    possim
        .admin("PUT", "/__admin/journal", Some(json!({"enabled": false})))
        .await;
    possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    let (status, _) = possim.admin("DELETE", "/__admin/journal", None).await;
    assert_eq!(status, 204);
    assert_eq!(possim.admin("GET", "/__admin/journal", None).await.1["stats"]["len"], 0);
    let (status, err) = possim.admin("GET", "/__admin/journal?colour=red", None).await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("colour"), "{err}");
    let (status, _) = possim.admin("GET", "/__admin/nope", None).await;
    assert_eq!(status, 404);

    // The latest representable moment works, and the mocks still answer there.
    let (status, _) = possim
        .admin("PUT", "/__admin/clock", Some(json!({"time": "9999-12-31T23:59:59Z"})))
        .await;
    assert_eq!(status, 200);
    let (status, _) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(status, 200);
}

/// SIGTERM is a graceful shutdown: exit code 0 (README, "Exit codes") within a few seconds, the
/// console's event stream ended properly rather than cut (console README: it "ends when possim
/// serve shuts down"), and the pseudo-terminal's symlink removed (virtual-terminal README).
#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let dir = std::env::temp_dir().join(format!("possim-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("zvt.tty");
    let link_arg = link.to_str().unwrap().to_owned();
    let possim = Possim::start("default", &["--zvt-tty-link", &link_arg]).await;
    // Without pseudo-terminals (some containers) there is no serial link and so no symlink.
    let serial = possim.zvt_serial.clone();
    if let Some(path) = &serial {
        assert_eq!(std::fs::read_link(&link).unwrap().to_str(), Some(path.as_str()));
    }
    let mut events = possim
        .client()
        .get(format!("{}/__admin/console/events", possim.admin))
        .send()
        .await
        .expect("the event stream opens");
    assert_eq!(events.status(), 200);
    let stream_end = tokio::spawn(async move {
        loop {
            match events.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
    });

    let signalled = std::time::Instant::now();
    let status = possim.terminate().await;
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert_eq!(status.code(), Some(0));
    assert!(took < std::time::Duration::from_secs(5), "shutdown took {took:?}");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), stream_end)
        .await
        .expect("the event stream ends with the server")
        .unwrap();
    assert_eq!(ended, Ok(()), "the event stream was cut instead of ended");
    if serial.is_some() {
        assert!(
            std::fs::symlink_metadata(&link).is_err(),
            "the symlink {} outlived possim",
            link.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn command_line_errors_are_clear_and_exit_non_zero() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_possim"))
            .args(args)
            .output()
            .expect("runs")
    };
    let out = run(&[
        "serve",
        "--data",
        "no-such-set",
        "--admin",
        "127.0.0.1:0",
        "--tyrios",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no data set named \"no-such-set\""), "{err}");
    let out = run(&[
        "serve",
        "--clock",
        "soon",
        "--admin",
        "127.0.0.1:0",
        "--tyrios",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
    let out = run(&["serve", "--tyrios", "localhost:x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tyrios"));
    let out = run(&["zvt", "decode", "06 01 07 04 00 00 00 00 10 00"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // 06 01 is Authorisation; BMP 04 holds 000000001000 cents in BCD = 10.00 EUR.
    assert!(text.contains("06 01 Authorisation") && text.contains("10.00"), "{text}");
    let out = run(&["zvt", "decode", "06 0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("odd number of hex digits"));
    let out = run(&["datasets"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("seed-examples"));
}

#[tokio::test]
async fn a_taken_port_is_reported_with_a_hint() {
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = blocker.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_possim"))
        .args([
            "serve",
            "--admin",
            "127.0.0.1:0",
            "--tyrios",
            &format!("127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tyrios: cannot listen on") && err.contains("127.0.0.1:0"),
        "{err}"
    );
}

/// A user copies a built-in data set, edits it, and points a config file at it.
#[tokio::test]
async fn config_file_and_data_set_directory() {
    let dir = std::env::temp_dir().join(format!("possim-config-{}", std::process::id()));
    let set = dir.join("my-set");
    std::fs::create_dir_all(&set).unwrap();
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/mocks/datasets/default");
    std::fs::copy(format!("{source}/possim.toml"), set.join("possim.toml")).unwrap();
    let tyrios = std::fs::read_to_string(format!("{source}/tyrios.toml")).unwrap();
    std::fs::write(set.join("tyrios.toml"), tyrios.replace("points = 213", "points = 999")).unwrap();
    let config = dir.join("possim.toml");
    std::fs::write(
        &config,
        format!(
            "data = {:?}\nclock = \"2024-02-29T10:00:00Z\"\n[journal]\ncapacity = 7\n",
            set.display().to_string()
        ),
    )
    .unwrap();

    let possim = Possim::start("", &["--config", config.to_str().unwrap()]).await;
    let (_, user) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(user["currentBonusPoints"], 999);
    let (_, health) = possim.admin("GET", "/__admin/health", None).await;
    assert_eq!(health["clock"]["iso"], "2024-02-29T10:00:00Z");
    assert_eq!(
        possim.admin("GET", "/__admin/journal", None).await.1["stats"]["capacity"],
        7
    );
    // The --clock of the config survives a reset.
    possim.admin("POST", "/__admin/reset", None).await;
    assert_eq!(
        possim.admin("GET", "/__admin/clock", None).await.1["iso"],
        "2024-02-29T10:00:00Z"
    );

    // A typo in a data set file is refused with the file and key named, and nothing changes:
    // not the set, not the running state — an armed fault rule and the journal survive.
    let (status, _) = possim
        .admin("POST", "/__admin/faults", Some(json!({"name": "kept", "delayMs": 1})))
        .await;
    assert_eq!(status, 201);
    let journal_before = possim.admin("GET", "/__admin/journal", None).await.1["stats"]["len"].clone();
    std::fs::write(set.join("tyrios.toml"), "nextUserID = 5\n").unwrap();
    let (status, err) = possim
        .admin("POST", "/__admin/dataset", Some(json!({"path": set.to_str().unwrap()})))
        .await;
    assert_eq!(status, 400);
    let message = err["error"].as_str().unwrap();
    assert!(
        message.contains("tyrios.toml") && message.contains("nextUserID"),
        "{message}"
    );
    let (_, user) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(user["currentBonusPoints"], 999);
    let faults = possim.admin("GET", "/__admin/faults", None).await.1;
    assert_eq!(faults[0]["name"], "kept", "{faults}");
    let journal_after = possim.admin("GET", "/__admin/journal", None).await.1["stats"]["len"].clone();
    // The lookup above went through the armed (1 ms) rule and was journalled on top.
    assert_eq!(journal_after, json!(journal_before.as_u64().unwrap() + 1));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn delay_rule_holds_the_answer_back() {
    let possim = Possim::start("seed-examples", &[]).await;
    possim
        .admin("POST", "/__admin/faults", Some(json!({"delayMs": 120, "times": 1})))
        .await;
    let (status, _) = possim
        .tyrios("GET", "/BonusPointManagement/UserData/UQBUFDJALK4WXYC", None)
        .await;
    assert_eq!(status, 200);
    let (_, journal) = possim.admin("GET", "/__admin/journal", None).await;
    let entry = &journal["entries"][0];
    assert_eq!(entry["fault"]["action"], "delay");
    // The delay is part of the recorded answer time (a lower bound, not a timing expectation).
    assert!(entry["durationMicros"].as_u64().unwrap() >= 120_000, "{entry}");
}

/// Every HTTP exchange in the journal carries the operation its provider named, also one a fault
/// answered instead of the provider; the judge tells reads from writes by it.
#[tokio::test]
async fn the_journal_names_the_operation_of_every_request() {
    let possim = Possim::start("default", &[]).await;
    let pos = "/service/BonusPointManagement/BonusPointTransaction/pos";
    possim
        .tyrios("GET", "/service/BonusPointManagement/UserData/UQBUFDJALK4WXYC/", None)
        .await;
    // The answers do not matter here (an empty body is refused): the request names the operation.
    possim.tyrios("POST", &format!("{pos}?draft=true"), Some("{}")).await;
    possim.tyrios("POST", pos, Some("{}")).await;
    let (status, _) = possim
        .admin(
            "POST",
            "/__admin/faults",
            Some(json!({"provider": "tyrios", "method": "GET", "action": {"type": "respond", "status": 503}})),
        )
        .await;
    assert_eq!(status, 201);
    let status = possim
        .client()
        .get(format!(
            "{}/BonusPointManagement/UserData/UQBUFDJALK4WXYC",
            possim.tyrios
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 503);
    let (_, journal) = possim.admin("GET", "/__admin/journal?provider=tyrios", None).await;
    let operations: Vec<Value> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].clone())
        .collect();
    assert_eq!(
        operations,
        [
            json!({"name": "user.lookup", "write": false}),
            json!({"name": "pos.draft", "write": false}),
            json!({"name": "pos.final", "write": true}),
            json!({"name": "user.lookup", "write": false}),
        ]
    );
}
