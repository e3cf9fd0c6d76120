//! The operator console over plain HTTP (CONTRACT §10): sign-in lockout, cookie
//! attributes, anti-forgery tokens, roles enforced on the server, idle expiry on
//! a manual clock, masked identity numbers, and the headers of every page.

use onboard_core::lifecycle::ReviewPolicy;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, X_FRAME_OPTIONS};
use time::Duration;

use crate::console_support::{
    ADMIN, ConsoleClient, FULL_SSN, MASKED_SSN, PASSWORD, REVIEWER, operators, reviewable,
    set_cookie,
};
use crate::helpers::{AppOptions, TestApp, manual_clock, spawn_app_with};

async fn manual_review_app(options: AppOptions) -> TestApp {
    let app = spawn_app_with(AppOptions {
        policy: ReviewPolicy::Manual,
        ..options
    })
    .await;
    operators(&app).await;
    app
}

/// Guesses sent all at once still get no more than five password checks: each
/// attempt is counted before its password is checked.
#[tokio::test]
async fn concurrent_guesses_get_no_more_than_five_password_checks() {
    let app = manual_review_app(AppOptions::default()).await;
    let console = ConsoleClient::new(&app);
    let guesses = (0..20).map(|_| console.try_sign_in(ADMIN, "not the password"));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(checked <= 4, "{checked} guesses were checked: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let right = console.try_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A new password ends the operator's open sessions.
#[tokio::test]
async fn a_new_password_ends_the_operators_sessions() {
    let app = manual_review_app(AppOptions::default()).await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    assert_eq!(
        console.get("/console/review").await.status(),
        StatusCode::OK
    );
    let password = onboard_core::access::Password::chosen("another long password").unwrap();
    app.onboarding
        .reset_operator_password(REVIEWER, &password)
        .await
        .unwrap();
    let after = console.get("/console/review").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn five_failed_sign_ins_lock_a_name_for_fifteen_minutes_known_or_not() {
    let clock = manual_clock();
    let app = manual_review_app(AppOptions::with_clock(&clock)).await;
    let console = ConsoleClient::new(&app);

    let mut refusals = Vec::new();
    for name in [ADMIN, "nobody-by-this-name"] {
        for _ in 0..4 {
            let response = console.try_sign_in(name, "not the password").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let html = response.text().await.unwrap();
            assert!(
                html.contains("The name or the password is wrong."),
                "{html}"
            );
            refusals.push(html.replace(name, "NAME"));
        }
        let fifth = console.try_sign_in(name, "not the password").await;
        assert_eq!(fifth.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(fifth.text().await.unwrap().contains("locked until"));
    }
    // Unknown names and wrong passwords read the same, but for the form token.
    let without_token = |html: &String| {
        let at = html.find(r#"name="csrf""#).unwrap();
        let end = at + html[at..].find('>').unwrap();
        format!("{}{}", &html[..at], &html[end..])
    };
    assert_eq!(without_token(&refusals[0]), without_token(&refusals[4]));

    // Locked: even the right password is refused, and the lock does not grow.
    let locked = console.try_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another name is not affected.
    let other = console.try_sign_in(REVIEWER, PASSWORD).await;
    assert_eq!(other.status(), StatusCode::SEE_OTHER);

    clock.advance(Duration::minutes(14));
    let still = console.try_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS);
    clock.advance(Duration::minutes(1) + Duration::seconds(1));
    let open = console.try_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(open.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn failures_outside_the_window_do_not_add_up() {
    let clock = manual_clock();
    let app = manual_review_app(AppOptions::with_clock(&clock)).await;
    let console = ConsoleClient::new(&app);
    for _ in 0..4 {
        let response = console.try_sign_in(ADMIN, "wrong").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    clock.advance(Duration::minutes(16));
    let response = console.try_sign_in(ADMIN, "wrong").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = console.try_sign_in(ADMIN, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_strict_and_secure_when_configured() {
    for secure in [false, true] {
        let app = manual_review_app(AppOptions {
            console: onboard_server::ConsoleSettings {
                secure_cookie: secure,
            },
            ..AppOptions::default()
        })
        .await;
        let response = ConsoleClient::new(&app).try_sign_in(ADMIN, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[LOCATION], "/console/review");
        let (pair, header) = set_cookie(&response, "onboard_session").unwrap();
        let token = pair.trim_start_matches("onboard_session=");
        assert_eq!(token.len(), 64, "256 random bits, hex: {header}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
            assert!(header.contains(attribute), "{attribute} missing: {header}");
        }
        assert_eq!(header.contains("Secure"), secure, "{header}");
    }
}

#[tokio::test]
async fn a_form_without_its_token_or_with_a_wrong_one_is_refused_with_403() {
    let app = manual_review_app(AppOptions::default()).await;
    reviewable(&app, "waiting").await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let review = format!("{}/review", console.user_path(&app, "waiting").await);
    let wrong = "00".repeat(32);
    let attempts: [&[(&str, &str)]; 2] = [
        &[("decision", "approve"), ("note", "looks fine")],
        &[
            ("csrf", wrong.as_str()),
            ("decision", "approve"),
            ("note", "looks fine"),
        ],
    ];
    for fields in attempts {
        let response = console.post(&review, fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let html = response.text().await.unwrap();
        assert!(
            html.contains("anti-forgery token is missing or wrong"),
            "{html}"
        );
    }
    let (status, _) = app.state_of(&app.key_a, "waiting").await;
    assert_eq!(status, "PENDING");

    // The sign-in form needs its token too.
    let response = console
        .post(
            "/console/sign-in",
            &[("name", ADMIN), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // With the token, the same form works.
    let fields = [
        ("csrf", console.csrf.as_str()),
        ("decision", "approve"),
        ("note", "looks fine"),
    ];
    let response = console.post(&review, &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = app.state_of(&app.key_a, "waiting").await;
    assert_eq!(status, "VERIFIED");
}

#[tokio::test]
async fn a_reviewer_gets_403_on_every_admin_route_and_an_admin_does_not() {
    let app = manual_review_app(AppOptions::default()).await;
    let reviewer = ConsoleClient::signed_in(&app, REVIEWER).await;
    let admin = ConsoleClient::signed_in(&app, ADMIN).await;
    let enterprise = app.enterprise("enterprise-a").await.id.0.to_string();
    for page in ["/console/keys", "/console/operators", "/console/webhooks"] {
        let response = reviewer.get(page).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{page}");
        assert!(response.text().await.unwrap().contains("for admins"));
        assert_eq!(admin.get(page).await.status(), StatusCode::OK, "{page}");
    }
    let create = [
        ("csrf", reviewer.csrf.as_str()),
        ("enterprise", enterprise.as_str()),
        ("label", "sneaky"),
    ];
    let response = reviewer.post("/console/keys/create", &create).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let keys = app
        .onboarding
        .keys_of(&app.enterprise("enterprise-a").await)
        .await;
    assert_eq!(keys.unwrap().len(), 1, "no key was created");
    // The nav does not offer what the server refuses.
    let html = reviewer.page("/console/users").await;
    assert!(!html.contains(r#"href="/console/keys""#));
    assert!(
        admin
            .page("/console/users")
            .await
            .contains(r#"href="/console/keys""#)
    );
}

#[tokio::test]
async fn a_session_ends_after_twelve_hours_without_use() {
    let clock = manual_clock();
    let app = manual_review_app(AppOptions::with_clock(&clock)).await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    clock.advance(Duration::hours(11) + Duration::minutes(59));
    console.page("/console/users").await;
    // Used a moment ago: twelve more hours from that use.
    clock.advance(Duration::hours(11) + Duration::minutes(59));
    console.page("/console/users").await;
    clock.advance(Duration::hours(12) + Duration::minutes(1));
    let response = console.get("/console/users").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/sign-in");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = manual_review_app(AppOptions::default()).await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let response = console
        .post("/console/sign-out", &[("csrf", console.csrf.as_str())])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, header) = set_cookie(&response, "onboard_session").unwrap();
    assert!(header.contains("Max-Age=0"), "{header}");
    let again = console.get("/console/users").await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_show_identity_numbers_masked_only() {
    let app = manual_review_app(AppOptions::default()).await;
    reviewable(&app, "masked").await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let html = console.page(&console.user_path(&app, "masked").await).await;
    assert!(html.contains(MASKED_SSN), "{html}");
    let digits: String = FULL_SSN.chars().filter(char::is_ascii_digit).collect();
    assert!(!html.contains(FULL_SSN) && !html.contains(&digits));
    for page in ["/console/users", "/console/review"] {
        let html = console.page(page).await;
        assert!(html.contains("masked"), "{page} lists the user");
        assert!(
            !html.contains(FULL_SSN) && !html.contains(&digits),
            "{page}"
        );
    }
}

#[tokio::test]
async fn console_pages_carry_strict_headers_and_unknown_paths_are_a_404_page() {
    let app = manual_review_app(AppOptions::default()).await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    for path in [
        "/console/users",
        "/console/sign-in",
        "/console/no-such-page",
    ] {
        let response = console.get(path).await;
        let headers = response.headers();
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert!(headers.contains_key("referrer-policy"));
    }
    let missing = console.get("/console/no-such-page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // The API's own unknown paths still answer in JSON.
    let api = console.get("/v1/no-such-route").await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    assert!(
        api.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json")
    );
}

#[tokio::test]
async fn a_large_form_body_is_refused() {
    let app = manual_review_app(AppOptions::default()).await;
    reviewable(&app, "big").await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let review = format!("{}/review", console.user_path(&app, "big").await);
    let note = "x".repeat(64 * 1024);
    let fields = [
        ("csrf", console.csrf.as_str()),
        ("decision", "approve"),
        ("note", note.as_str()),
    ];
    let response = console.post(&review, &fields).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = app.state_of(&app.key_a, "big").await;
    assert_eq!(status, "PENDING");
}

#[tokio::test]
async fn approving_needs_a_note_and_the_event_names_the_operator() {
    let app = manual_review_app(AppOptions::default()).await;
    reviewable(&app, "noted").await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let review = format!("{}/review", console.user_path(&app, "noted").await);
    let csrf = console.csrf.clone();
    let blank = [
        ("csrf", csrf.as_str()),
        ("decision", "reject"),
        ("note", "  "),
    ];
    assert_eq!(
        console.post(&review, &blank).await.status(),
        StatusCode::BAD_REQUEST
    );
    let with_note = [
        ("csrf", csrf.as_str()),
        ("decision", "reject"),
        ("note", "address mismatch"),
    ];
    assert_eq!(
        console.post(&review, &with_note).await.status(),
        StatusCode::SEE_OTHER
    );
    let events = app.all_events(&app.key_a).await;
    let last = events.last().unwrap();
    assert_eq!(last["user"]["status"], "UNSUPPORTED", "{last}");
    assert_eq!(last["operator"], REVIEWER, "{last}");
    assert_eq!(last["note"], "address mismatch", "{last}");
}

/// The user ids a list page shows, in order.
fn listed_ids(html: &str) -> Vec<String> {
    html.split("/users/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_users_page_filters_searches_and_pages_across_enterprises() {
    let app = manual_review_app(AppOptions::default()).await;
    let mut bodies: Vec<_> = (0..52)
        .map(|i| onboard_testkit::fixtures::individual(&format!("bulk-{i:02}")))
        .collect();
    let mut named = onboard_testkit::fixtures::individual("odd-one");
    named["first_name"] = "Zoë".into();
    named["last_name"] = "O%Brien".into();
    named["email"] = "Zoe.Obrien@Example.com".into();
    bodies.push(named);
    app.register_all(&app.key_a, bodies).await;
    app.register_ok(&app.key_b, &crate::fixtures::corporation("corp-b"))
        .await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;

    let first = console.page("/console/users").await;
    assert_eq!(listed_ids(&first).len(), 50);
    let next = first
        .split(r#"<a href=""#)
        .find_map(|s| {
            s.split_once(r#"" rel="next""#)
                .map(|(href, _)| href.to_owned())
        })
        .expect("a next page link");
    let second = console
        .page(&next.replace("&#38;", "&").replace("&amp;", "&"))
        .await;
    let second = listed_ids(&second);
    assert_eq!(second.len(), 4, "{next}: {second:?}");
    assert_eq!(
        second.last().map(String::as_str),
        Some("corp-b"),
        "oldest first"
    );
    let mut all: Vec<String> = listed_ids(&first).into_iter().chain(second).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 54, "every user once across the two pages");

    let b = app.enterprise("enterprise-b").await.id.0;
    let cases = [
        (format!("/console/users?enterprise={b}"), vec!["corp-b"]),
        ("/console/users?type=corporation".into(), vec!["corp-b"]),
        ("/console/users?q=odd-one".into(), vec!["odd-one"]),
        (
            "/console/users?q=zoe.obrien%40example.com".into(),
            vec!["odd-one"],
        ),
        // Names are sealed: a whole first or last name matches, in any case,
        // through its blind index; a part of one matches nothing.
        ("/console/users?q=o%25brien".into(), vec!["odd-one"]),
        ("/console/users?q=ZO%C3%8B".into(), vec!["odd-one"]),
        ("/console/users?q=o%25b".into(), vec![]),
        ("/console/users?status=VERIFIED".into(), vec![]),
        ("/console/users?role=advisor".into(), vec![]),
    ];
    for (path, want) in cases {
        let html = console.page(&path).await;
        assert_eq!(listed_ids(&html), want, "{path}");
    }
    let bad = console.get("/console/users?status=SLEEPING").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_review_queue_holds_pending_users_with_nothing_left_oldest_first() {
    let app = manual_review_app(AppOptions::default()).await;
    reviewable(&app, "first-done").await;
    app.register_ok(
        &app.key_a,
        &onboard_testkit::fixtures::individual("not-yet"),
    )
    .await;
    app.register_ok(&app.key_b, &crate::fixtures::corporation("corp-done"))
        .await;
    app.verify_email(&app.key_b, "corp-done").await;
    reviewable(&app, "second-done").await;
    let console = ConsoleClient::signed_in(&app, REVIEWER).await;
    let html = console.page("/console/review").await;
    assert_eq!(
        listed_ids(&html),
        ["first-done", "corp-done", "second-done"]
    );
}

/// The `id`s of a page's visible form controls, and whether each has a
/// `<label for>`.
fn unlabelled_controls(html: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for tag in ["<input", "<select", "<textarea"] {
        for rest in html.split(tag).skip(1) {
            let element = rest.split('>').next().unwrap();
            if element.contains(r#"type="hidden""#) {
                continue;
            }
            let id = element
                .split(r#"id=""#)
                .nth(1)
                .map(|s| s.split('"').next().unwrap().to_owned());
            match id {
                Some(id) if html.contains(&format!(r#"<label for="{id}">"#)) => {}
                _ => missing.push(format!("{tag}{element}>")),
            }
        }
    }
    missing
}

#[tokio::test]
async fn every_control_of_every_page_has_a_visible_label_and_buttons_say_what_they_do() {
    let app = manual_review_app(AppOptions::default()).await;
    reviewable(&app, "labelled").await;
    app.post_json(
        &app.key_a,
        "/v1/sandbox/eddq/requests",
        &serde_json::json!({"user_id": "labelled"}),
    )
    .await;
    let admin = ConsoleClient::signed_in(&app, ADMIN).await;
    let user = admin.user_path(&app, "labelled").await;
    let pages = [
        "/console/sign-in",
        "/console/users",
        "/console/review",
        user.as_str(),
        "/console/edd",
        "/console/live",
        "/console/keys",
        "/console/operators",
        "/console/webhooks",
        "/console/outbox",
    ];
    for page in pages {
        let html = admin.page(page).await;
        assert_eq!(unlabelled_controls(&html), Vec::<String>::new(), "{page}");
        assert!(
            !html.contains("<script>") && !html.contains(" style="),
            "{page}"
        );
    }
    let html = admin.page(&user).await;
    for button in ["Approve</button>", "Reject</button>", "Sign out</button>"] {
        assert!(html.contains(button), "{button}");
    }
    assert!(
        admin
            .page("/console/edd")
            .await
            .contains("Mark reviewed</button>")
    );
    assert!(
        admin
            .page("/console/sign-in")
            .await
            .contains("Sign in</button>")
    );
    // A GET of a form's action is a page too, not the API's JSON.
    let wrong = admin.get(&format!("{user}/review")).await;
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        wrong.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}
