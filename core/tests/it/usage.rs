//! Model calls: exact cost from the price in force, typed token validation, price edits.

use chrono::{TimeZone, Utc};
use lux_core::services::usage::NewPrice;
use lux_core::{CallStatus, Error, Lux, NanoUsd, NewModelCall, storage_tests};

use crate::support::{session, thought};

async fn cost_is_exact_from_the_shipped_price_list(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    // gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cached per million tokens.
    let call = lux
        .record_model_call(
            project,
            &reference,
            NewModelCall {
                cached_input_tokens: 200_000,
                latency_ms: 850,
                ..NewModelCall::ok("openai", "gpt-4o-mini-2024-07-18", 1_234_567, 89_012)
            },
        )
        .await
        .unwrap()
        .value;
    // (1,034,567 × 0.15 + 200,000 × 0.075 + 89,012 × 0.60) USD / 1e6 = 0.2086925… USD
    let expected =
        (1_034_567i64 * 150_000_000 + 200_000 * 75_000_000 + 89_012 * 600_000_000 + 500_000)
            / 1_000_000;
    assert_eq!(call.cost, NanoUsd(expected));
    assert!(call.price_id.is_some());
    let session = lux.get_session(project, &reference).await.unwrap();
    assert_eq!(
        session.model.as_deref(),
        Some("gpt-4o-mini-2024-07-18"),
        "the first call names the session's model"
    );

    let unknown = lux
        .record_model_call(
            project,
            &reference,
            NewModelCall::ok("local", "my-finetune", 10, 10),
        )
        .await
        .unwrap()
        .value;
    assert_eq!(unknown.cost, NanoUsd(0));
    assert_eq!(
        unknown.price_id, None,
        "an unpriced call says so instead of pretending to be free"
    );

    let calls = lux.list_model_calls(project, &reference).await.unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].input_tokens, 1_234_567);
    assert_eq!(calls[0].latency_ms, 850);
}

async fn a_new_price_applies_from_its_date_and_keeps_history(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    let change = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    lux.set_price(NewPrice {
        model_pattern: "house-model*".into(),
        provider: None,
        input_nusd_per_mtok: 1_000_000_000,
        output_nusd_per_mtok: 2_000_000_000,
        cached_input_nusd_per_mtok: None,
        reasoning_nusd_per_mtok: None,
        effective_from: Some(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap()),
    })
    .await
    .unwrap();
    lux.set_price(NewPrice {
        model_pattern: "house-model*".into(),
        provider: None,
        input_nusd_per_mtok: 3_000_000_000,
        output_nusd_per_mtok: 6_000_000_000,
        cached_input_nusd_per_mtok: None,
        reasoning_nusd_per_mtok: Some(0),
        effective_from: Some(change),
    })
    .await
    .unwrap();
    let at = |year| Utc.with_ymd_and_hms(year, 6, 1, 0, 0, 0).unwrap();
    let before = NewModelCall {
        created_at: Some(at(2029)),
        reasoning_tokens: 1_000_000,
        ..NewModelCall::ok("vllm", "house-model-7b", 1_000_000, 1_000_000)
    };
    let after = NewModelCall {
        created_at: Some(at(2031)),
        ..before.clone()
    };
    let before = lux
        .record_model_call(project, &reference, before)
        .await
        .unwrap()
        .value;
    let after = lux
        .record_model_call(project, &reference, after)
        .await
        .unwrap()
        .value;
    assert_eq!(
        before.cost,
        NanoUsd(1_000_000_000 + 2_000_000_000 + 2_000_000_000),
        "reasoning billed at the output price"
    );
    assert_eq!(
        after.cost,
        NanoUsd(3_000_000_000 + 6_000_000_000),
        "reasoning price 0 applies"
    );

    let history: Vec<_> = lux
        .list_prices()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.price.model_pattern == "house-model*")
        .collect();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].price.effective_to, Some(change));
    assert_eq!(history[1].source, "user");

    let stale = lux
        .set_price(NewPrice {
            effective_from: Some(at(2029)),
            ..NewPrice {
                model_pattern: "house-model*".into(),
                provider: None,
                input_nusd_per_mtok: 1,
                output_nusd_per_mtok: 1,
                cached_input_nusd_per_mtok: None,
                reasoning_nusd_per_mtok: None,
                effective_from: None,
            }
        })
        .await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
}

async fn absurd_usage_is_refused(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    let step = lux
        .append_step(project, &reference, thought("t"))
        .await
        .unwrap()
        .value;
    let base = NewModelCall::ok("openai", "gpt-4o", 10, 10);
    let cases = [
        (
            NewModelCall {
                input_tokens: -1,
                ..base.clone()
            },
            "input_tokens",
        ),
        (
            NewModelCall {
                output_tokens: 10_000_000_000,
                ..base.clone()
            },
            "output_tokens",
        ),
        (
            NewModelCall {
                cached_input_tokens: 11,
                ..base.clone()
            },
            "cached_input_tokens",
        ),
        (
            NewModelCall {
                reasoning_tokens: -5,
                ..base.clone()
            },
            "reasoning_tokens",
        ),
        (
            NewModelCall {
                latency_ms: -1,
                ..base.clone()
            },
            "latency_ms",
        ),
        (
            NewModelCall {
                provider: "".into(),
                ..base.clone()
            },
            "provider",
        ),
        (
            NewModelCall {
                model: " ".into(),
                ..base.clone()
            },
            "model",
        ),
    ];
    for (new, field) in cases {
        match lux.record_model_call(project, &reference, new).await {
            Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("expected an invalid {field}, got {other:?}"),
        }
    }
    let foreign_step = lux
        .record_model_call(
            project,
            &reference,
            NewModelCall {
                step_id: Some(lux_core::StepId(uuid::Uuid::now_v7())),
                ..base.clone()
            },
        )
        .await;
    assert!(
        matches!(foreign_step, Err(Error::NotFound { .. })),
        "{foreign_step:?}"
    );
    let failed = lux
        .record_model_call(
            project,
            &reference,
            NewModelCall {
                step_id: Some(step.id),
                status: CallStatus::Timeout,
                error: Some("deadline".into()),
                ..base
            },
        )
        .await
        .unwrap()
        .value;
    assert_eq!(failed.status, CallStatus::Timeout);
    assert_eq!(
        lux.list_model_calls(project, &reference)
            .await
            .unwrap()
            .len(),
        1
    );
}

storage_tests!(
    cost_is_exact_from_the_shipped_price_list,
    a_new_price_applies_from_its_date_and_keeps_history,
    absurd_usage_is_refused,
);
