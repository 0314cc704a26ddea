//! Plugins as core sees them: [`WasmDetector`] is a [`BiasDetector`] and [`WasmMiner`] a
//! [`PatternMiner`], so core's registry runs an enabled plugin exactly like a built-in.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::SecondsFormat;
use lux_core::detect::{
    BiasDetector, Detection, DetectorError, DetectorInput, MinedPattern, PatternMiner,
    SessionDigest,
};

use crate::abi;
use crate::error::{LoadError, PluginError};
use crate::host::{Plugin, PluginKind};

/// The `detector` a plugin's findings and patterns are stored under: its name in the `plugin.`
/// namespace, so no plugin can pass itself off as a built-in detector.
pub fn finding_source(plugin_name: &str) -> String {
    format!("plugin.{plugin_name}")
}

/// A bias-detector plugin with its configuration.
#[derive(Debug, Clone)]
pub struct WasmDetector {
    plugin: Plugin,
    name: String,
    config: String,
}

impl WasmDetector {
    pub fn new(plugin: Plugin) -> Result<Self, LoadError> {
        expect_kind(&plugin, PluginKind::BiasDetector)?;
        Ok(WasmDetector {
            name: finding_source(&plugin.metadata().name),
            plugin,
            config: "{}".into(),
        })
    }

    /// The configuration passed to every call (checked against the schema by the registry).
    pub fn with_config(mut self, config: &serde_json::Value) -> Self {
        self.config = config.to_string();
        self
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// One call in a fresh sandbox, with the failure kind kept (the trait flattens it to text).
    pub async fn run(&self, input: &DetectorInput) -> Result<Vec<Detection>, PluginError> {
        let context = abi::StepContext {
            step: abi::Step {
                step_number: input.step.step_number,
                kind: input.step.kind.clone(),
                content: input.step.content.clone(),
            },
            previous: input
                .previous
                .iter()
                .map(|prior| abi::PriorStep {
                    step_number: prior.step_number,
                    kind: prior.kind.clone(),
                    content: prior.content.clone(),
                })
                .collect(),
            synthesis: input.synthesis.as_deref().map(|synthesis| abi::Synthesis {
                current_understanding: synthesis.current_understanding.clone(),
                insights: synthesis.insights.clone(),
                confidence: synthesis.confidence,
            }),
            config: self.config.clone(),
        };
        let inner = &self.plugin.inner;
        let (returned,) = inner
            .call_entry::<abi::DetectParams, abi::DetectResults>((context,))
            .await?;
        crate::output::findings(returned, &input.step.content)
    }
}

#[async_trait]
impl BiasDetector for WasmDetector {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> &str {
        &self.plugin.metadata().version
    }

    fn bias_types(&self) -> Vec<String> {
        // The contract does not declare bias types up front; listings show them as found.
        Vec::new()
    }

    async fn detect(&self, input: &DetectorInput) -> Result<Vec<Detection>, DetectorError> {
        self.run(input)
            .await
            .map_err(|error| DetectorError::new(error.to_string()))
    }
}

/// A pattern-miner plugin with its configuration.
#[derive(Debug, Clone)]
pub struct WasmMiner {
    plugin: Plugin,
    name: String,
    config: String,
}

impl WasmMiner {
    pub fn new(plugin: Plugin) -> Result<Self, LoadError> {
        expect_kind(&plugin, PluginKind::PatternMiner)?;
        Ok(WasmMiner {
            name: finding_source(&plugin.metadata().name),
            plugin,
            config: "{}".into(),
        })
    }

    pub fn with_config(mut self, config: &serde_json::Value) -> Self {
        self.config = config.to_string();
        self
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    pub async fn run(&self, digests: &[SessionDigest]) -> Result<Vec<MinedPattern>, PluginError> {
        let sessions: HashSet<_> = digests.iter().map(|digest| digest.session_id).collect();
        let counts = |counts: &std::collections::BTreeMap<String, u32>| {
            counts
                .iter()
                .map(|(label, count)| abi::LabelCount {
                    label: label.clone(),
                    count: *count,
                })
                .collect()
        };
        let digests: Vec<abi::SessionDigest> = digests
            .iter()
            .map(|digest| abi::SessionDigest {
                session_id: digest.session_id.to_string(),
                tool: digest.tool.clone(),
                status: digest.status.clone(),
                model: digest.model.clone(),
                n_steps: digest.n_steps,
                bias_counts: counts(&digest.bias_counts),
                monitor_counts: counts(&digest.monitor_counts),
                top_concepts: digest.top_concepts.clone(),
                total_tokens: digest.total_tokens,
                cost_nusd: digest.cost_nusd,
                created_at: digest
                    .created_at
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                topic: digest.topic.clone(),
            })
            .collect();
        let inner = &self.plugin.inner;
        let config = self.config.clone();
        let (returned,) = if inner.digests_have_topics() {
            inner
                .call_entry::<abi::MineParams, abi::MineResults>((digests, config))
                .await?
        } else {
            let digests = digests
                .into_iter()
                .map(abi::SessionDigestV01::from)
                .collect();
            inner
                .call_entry::<abi::MineParamsV01, abi::MineResults>((digests, config))
                .await?
        };
        crate::output::patterns(returned, &sessions)
    }
}

#[async_trait]
impl PatternMiner for WasmMiner {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> &str {
        &self.plugin.metadata().version
    }

    async fn mine(&self, digests: &[SessionDigest]) -> Result<Vec<MinedPattern>, DetectorError> {
        self.run(digests)
            .await
            .map_err(|error| DetectorError::new(error.to_string()))
    }
}

fn expect_kind(plugin: &Plugin, expected: PluginKind) -> Result<(), LoadError> {
    if plugin.kind() == expected {
        return Ok(());
    }
    Err(LoadError::WrongWorld {
        expected: expected.world(),
        found: format!(
            "{} is a {} plugin",
            plugin.metadata().name,
            plugin.kind().world()
        ),
    })
}
