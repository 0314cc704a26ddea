//! Synthesis versions: every accepted format becomes one version, with every insight kept.

use lux_core::synthesis::{ActionItemInput, ActionPriority, InsightInput, SynthesisUpdate};
use lux_core::{Error, Lux, NewSynthesis, SynthesisInput, WriteOutcome, storage_tests};

use crate::support::{session, thought};

async fn each_format_makes_one_new_version(lux: &Lux) {
    let (project, _, reference) = session(lux, "biased_reasoning").await;
    let step = lux
        .append_step(
            project,
            &reference,
            thought("the bug is in the cache layer"),
        )
        .await
        .unwrap()
        .value;
    let texts = [
        r#"Reasoning… update_synthesis({"current_understanding": "Cache misses come from eviction.", "key_insights": [{"insight": "Evictions spike at noon", "confidence": 0.8}], "action_items": [{"action": "Raise the cache size", "priority": "high"}], "confidence_score": 0.7, "clarity_score": 0.6})"#,
        r#"update_synthesis(Understanding="A deploy at noon flushes the cache.", Insights=["Deploys flush", "Noon is deploy time", "Eviction is a red herring"], Actions=[{"action": "Warm the cache after deploys", "priority": "medium", "dependencies": ["deploy hook"]}], Confidence=0.85, Clarity=0.9)"#,
        r#"Final answer. {"understanding": "Confirmed: deploy flush.", "insights": ["Warm-up fixes it"], "confidence": 0.95}"#,
    ];
    for (i, text) in texts.iter().enumerate() {
        let new = NewSynthesis {
            step_id: Some(step.id),
            ..NewSynthesis::raw(*text)
        };
        let version = lux
            .add_synthesis(project, &reference, new)
            .await
            .unwrap()
            .value;
        assert_eq!(version.version, i as i32 + 1);
        assert_eq!(
            version.raw_update.as_deref(),
            Some(*text),
            "the raw text is kept verbatim"
        );
        assert_eq!(version.step_number, Some(1));
    }
    let versions = lux
        .list_synthesis_versions(project, &reference)
        .await
        .unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(
        versions[0].current_understanding.as_deref(),
        Some("Cache misses come from eviction.")
    );
    assert_eq!(versions[0].insights[0].confidence, Some(0.8));
    assert_eq!(versions[0].action_items[0].priority, ActionPriority::High);
    let second: Vec<&str> = versions[1]
        .insights
        .iter()
        .map(|i| i.text.as_str())
        .collect();
    assert_eq!(
        second,
        vec![
            "Deploys flush",
            "Noon is deploy time",
            "Eviction is a red herring"
        ]
    );
    assert_eq!(
        versions[1].action_items[0].dependencies,
        vec!["deploy hook"]
    );
    assert_eq!(versions[1].confidence, Some(0.85));
    assert_eq!(
        versions[2].current_understanding.as_deref(),
        Some("Confirmed: deploy flush.")
    );
    assert_eq!(
        versions[2].parsed["current_understanding"],
        "Confirmed: deploy flush."
    );

    let latest = lux
        .latest_synthesis(project, &reference)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, 3);
    assert_eq!(latest.insights.len(), 1);
}

async fn many_insights_are_never_truncated(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    let insights: Vec<String> = (1..=12)
        .map(|i| format!("\"insight number {i}\""))
        .collect();
    let text = format!(
        "update_synthesis(Understanding=\"many\", Insights=[{}])",
        insights.join(", ")
    );
    let version = lux
        .add_synthesis(project, &reference, NewSynthesis::raw(text))
        .await
        .unwrap()
        .value;
    assert_eq!(version.insights.len(), 12);
    assert_eq!(version.insights[11].text, "insight number 12");
}

async fn structured_updates_and_idempotent_replays(lux: &Lux) {
    let (project, _, reference) = session(lux, "planner").await;
    let update = SynthesisUpdate {
        current_understanding: Some("Plan is ready.".into()),
        insights: vec![InsightInput {
            text: "Two phases".into(),
            confidence: Some(0.6),
            source_step: Some(1),
            supported_by_evidence: Some(true),
        }],
        action_items: vec![ActionItemInput {
            action: "Ship phase one".into(),
            priority: ActionPriority::Low,
            rationale: Some("low risk".into()),
            dependencies: vec![],
        }],
        confidence: Some(0.75),
        clarity: None,
        ..SynthesisUpdate::default()
    };
    let id = lux_core::SynthesisVersionId(uuid::Uuid::now_v7());
    let new = NewSynthesis {
        id: Some(id),
        ..NewSynthesis::structured(update)
    };
    let first = lux
        .add_synthesis(project, &reference, new.clone())
        .await
        .unwrap();
    assert_eq!(first.outcome, WriteOutcome::Created);
    assert_eq!(first.value.raw_update, None);
    let replay = lux.add_synthesis(project, &reference, new).await.unwrap();
    assert_eq!(replay.outcome, WriteOutcome::Duplicate);
    assert_eq!(replay.value.insights, first.value.insights);
    assert_eq!(
        lux.list_synthesis_versions(project, &reference)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn text_without_an_update_is_an_error_not_an_empty_version(lux: &Lux) {
    let (project, _, reference) = session(lux, "confer").await;
    for text in [
        "I think the answer is 42.",
        "update_synthesis(Understanding=\"unterminated",
        "update_synthesis()",
    ] {
        let result = lux
            .add_synthesis(project, &reference, NewSynthesis::raw(text))
            .await;
        assert!(
            matches!(result, Err(Error::Synthesis(_))),
            "{text}: {result:?}"
        );
    }
    let bad_score = lux
        .add_synthesis(
            project,
            &reference,
            NewSynthesis {
                input: SynthesisInput::Structured(SynthesisUpdate {
                    current_understanding: Some("x".into()),
                    confidence: Some(2.0),
                    ..Default::default()
                }),
                ..NewSynthesis::raw("")
            },
        )
        .await;
    assert!(bad_score.is_err());
    assert!(
        lux.latest_synthesis(project, &reference)
            .await
            .unwrap()
            .is_none()
    );
}

storage_tests!(
    each_format_makes_one_new_version,
    many_insights_are_never_truncated,
    structured_updates_and_idempotent_replays,
    text_without_an_update_is_an_error_not_an_empty_version,
);
