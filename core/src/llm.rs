//! The LLM client: a trait for one chat completion (text, token usage, latency) and its
//! OpenAI-compatible HTTP implementation, shared by the LLM verifier detector and the MCP tools.
//!
//! The HTTP client retries 429 and 5xx answers and transport failures with exponential backoff
//! (honouring `Retry-After`), and never lets the API key reach an error message or a `Debug` print.

use std::fmt;
use std::sync::Once;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage {
            role: ChatRole::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage {
            role: ChatRole::User,
            content: content.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// `None` uses the client's default model.
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Ask for `response_format: {"type": "json_object"}`. Providers that ignore it still work:
    /// callers must parse tolerantly anyway.
    pub json_mode: bool,
}

/// Token counts as the provider reported them (zero when it did not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub reasoning_tokens: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    pub usage: TokenUsage,
    /// Wall time of the successful attempt.
    pub latency: Duration,
    /// Attempts made, 1 when the first one succeeded.
    pub attempts: u32,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The client is not usable as configured (no base URL, a bad URL, no model).
    #[error("LLM client misconfigured: {0}")]
    Config(String),
    /// The provider answered with an error status.
    #[error("LLM provider answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("LLM request timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting or reading failed.
    #[error("LLM request failed: {0}")]
    Transport(String),
    /// A 200 answer that is not a chat completion.
    #[error("LLM answer is not a chat completion: {0}")]
    InvalidResponse(String),
}

impl LlmError {
    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Timeout(_) | LlmError::Transport(_) => true,
            LlmError::Config(_) | LlmError::InvalidResponse(_) => false,
        }
    }
}

/// A chat-completion backend. Implementations must be safe to share across tasks.
#[async_trait]
pub trait LlmClient: Send + Sync + fmt::Debug {
    /// The model used when a request names none.
    fn default_model(&self) -> &str;
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError>;
}

/// Settings of an OpenAI-compatible endpoint.
#[derive(Clone, PartialEq)]
pub struct LlmConfig {
    /// Up to and including the version path, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    /// Per attempt.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubled each retry, capped at `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

impl LlmConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        }
    }

    /// Reads the environment the original Lux server used: `LUX_LLM_BASE_URL` or
    /// `OPENAI_BASE_URL`, `LUX_LLM_API_KEY` or `OPENAI_API_KEY`, `LUX_LLM_MODEL` or
    /// `LUX_MODEL_NORMAL`, `LUX_REQUEST_TIMEOUT_SECS`, `LUX_MAX_RETRIES`. `None` when neither a
    /// base URL nor an API key is set: no LLM is configured.
    pub fn from_env() -> Option<LlmConfig> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`LlmConfig::from_env`] over any variable source, so it can be tested without touching the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<LlmConfig> {
        let first = |names: &[&str]| {
            names
                .iter()
                .filter_map(|name| lookup(name))
                .map(|value| value.trim().to_owned())
                .find(|value| !value.is_empty())
        };
        let base_url = first(&["LUX_LLM_BASE_URL", "OPENAI_BASE_URL"]);
        let api_key = first(&["LUX_LLM_API_KEY", "OPENAI_API_KEY"]);
        if base_url.is_none() && api_key.is_none() {
            return None;
        }
        let mut config = LlmConfig::new(
            base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
            first(&["LUX_LLM_MODEL", "LUX_MODEL_NORMAL"]).unwrap_or_else(|| DEFAULT_MODEL.into()),
        );
        config.api_key = api_key;
        if let Some(secs) = first(&["LUX_REQUEST_TIMEOUT_SECS"]).and_then(|v| v.parse().ok()) {
            config.timeout = Duration::from_secs(secs);
        }
        if let Some(retries) = first(&["LUX_MAX_RETRIES"]).and_then(|v| v.parse().ok()) {
            config.max_retries = retries;
        }
        Some(config)
    }
}

/// rustls needs a process-wide crypto provider; Lux uses ring, which sqlx already links.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An application that installed its own provider first keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An OpenAI-compatible `/chat/completions` client (OpenAI, OpenRouter, vLLM, Ollama, LM Studio…).
#[derive(Debug, Clone)]
pub struct OpenAiClient {
    http: reqwest::Client,
    config: LlmConfig,
    endpoint: String,
}

impl OpenAiClient {
    pub fn new(config: LlmConfig) -> Result<OpenAiClient, LlmError> {
        let base = config.base_url.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Config(format!(
                "base URL {base:?} must start with http:// or https://"
            )));
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::Config("no model configured".into()));
        }
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("lux/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| LlmError::Config(error.to_string()))?;
        let endpoint = format!("{base}/chat/completions");
        Ok(OpenAiClient {
            http,
            config,
            endpoint,
        })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    fn body(&self, request: &ChatRequest) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": request.model.as_deref().unwrap_or(&self.config.model),
            "messages": request.messages,
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = serde_json::json!(temperature);
        }
        if let Some(max_tokens) = request.max_tokens {
            body["max_tokens"] = serde_json::json!(max_tokens);
        }
        if request.json_mode {
            body["response_format"] = serde_json::json!({"type": "json_object"});
        }
        body
    }

    /// One attempt; on a retryable failure also returns how long the server asked us to wait.
    async fn attempt(
        &self,
        body: &serde_json::Value,
    ) -> Result<(ChatResponse, Duration), (LlmError, Option<Duration>)> {
        let started = Instant::now();
        let mut builder = self.http.post(&self.endpoint).json(body);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| (self.transport(e), None))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .text()
            .await
            .map_err(|e| (self.transport(e), None))?;
        if !status.is_success() {
            let message = error_message(&text);
            return Err((
                LlmError::Status {
                    status: status.as_u16(),
                    message,
                },
                retry_after,
            ));
        }
        let latency = started.elapsed();
        let parsed = parse_completion(&text).map_err(|e| (e, None))?;
        Ok((ChatResponse { latency, ..parsed }, latency))
    }

    fn transport(&self, error: reqwest::Error) -> LlmError {
        if error.is_timeout() {
            LlmError::Timeout(self.config.timeout)
        } else {
            // Without the URL: it may carry credentials in its user-info part.
            LlmError::Transport(error.without_url().to_string())
        }
    }
}

#[async_trait]
impl LlmClient for OpenAiClient {
    fn default_model(&self) -> &str {
        &self.config.model
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = self.body(request);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(&body).await {
                Ok((response, _)) => {
                    return Ok(ChatResponse {
                        attempts: attempt,
                        ..response
                    });
                }
                Err((error, retry_after)) => {
                    if !error.is_retryable() || attempt > self.config.max_retries {
                        return Err(error);
                    }
                    let exponent = (attempt - 1).min(16);
                    let backoff = self
                        .config
                        .backoff
                        .saturating_mul(1 << exponent)
                        .min(self.config.max_backoff);
                    let wait =
                        retry_after.map_or(backoff, |asked| asked.min(self.config.max_backoff));
                    tracing::warn!(attempt, ?wait, %error, "LLM request failed; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// The provider's error message if it sent the usual `{"error": {"message": …}}`, else the body, cut short.
fn error_message(body: &str) -> String {
    let parsed: Option<String> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .and_then(|m| m.as_str().map(str::to_owned))
        });
    let message = parsed.unwrap_or_else(|| body.trim().to_owned());
    crate::detect::text::truncate(&message, 300).to_owned()
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: i64,
}

#[derive(Deserialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: i64,
}

fn parse_completion(body: &str) -> Result<ChatResponse, LlmError> {
    let completion: Completion =
        serde_json::from_str(body).map_err(|error| LlmError::InvalidResponse(error.to_string()))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::InvalidResponse("no choices".into()))?;
    let text = choice
        .message
        .and_then(|message| message.content)
        .unwrap_or_default();
    let usage = completion.usage.unwrap_or_default();
    let output_tokens = usage.completion_tokens.max(0);
    // `completion_tokens` counts the reasoning tokens too; Lux keeps (and prices) them apart.
    let reasoning_tokens = usage
        .completion_tokens_details
        .map_or(0, |d| d.reasoning_tokens.max(0))
        .min(output_tokens);
    Ok(ChatResponse {
        text,
        model: completion.model,
        usage: TokenUsage {
            input_tokens: usage.prompt_tokens.max(0),
            output_tokens: output_tokens - reasoning_tokens,
            cached_input_tokens: usage
                .prompt_tokens_details
                .map_or(0, |d| d.cached_tokens.max(0)),
            reasoning_tokens,
        },
        latency: Duration::ZERO,
        attempts: 1,
        finish_reason: choice.finish_reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_comes_from_the_original_environment_names() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert!(LlmConfig::from_lookup(env(&[])).is_none());
        let config = LlmConfig::from_lookup(env(&[
            ("OPENAI_API_KEY", "sk-test"),
            ("LUX_MODEL_NORMAL", "gpt-4.1"),
            ("LUX_MAX_RETRIES", "5"),
        ]))
        .unwrap();
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.model, "gpt-4.1");
        assert_eq!(config.max_retries, 5);
        assert!(!format!("{config:?}").contains("sk-test"));
    }

    #[test]
    /// Reasoning tokens are part of `completion_tokens`: billed once, at the reasoning price.
    fn completions_are_parsed_with_detailed_usage() {
        let body = r#"{"model":"m","choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":10,"completion_tokens":3,
            "prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}"#;
        let parsed = parse_completion(body).unwrap();
        assert_eq!(parsed.text, "hi");
        assert_eq!(
            parsed.usage,
            TokenUsage {
                input_tokens: 10,
                output_tokens: 2,
                cached_input_tokens: 4,
                reasoning_tokens: 1
            }
        );
        assert!(parse_completion("{}").is_err());
        assert!(parse_completion("<html>").is_err());
    }
}
