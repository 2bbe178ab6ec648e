//! The retry and hedging parts of a gRPC service config (JSON, as gRFC A6
//! and the service config documentation define it) read into a
//! [`RetryConfig`]: each `methodConfig` entry's `retryPolicy` or
//! `hedgingPolicy` for the names it lists, and `retryThrottling`. Other
//! fields (`timeout`, `waitForReady`, load balancing) are left alone.

use crate::hedging::HedgingPolicy;
use crate::retry::{MethodPolicy, RetryConfig, RetryPolicy, RetryPolicyError, RetryThrottle};
use crate::status::Code;
use serde_json::{Map, Value};
use std::time::Duration;

/// A service config that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceConfigError {
    /// Not JSON.
    #[error("service config is not JSON: {0}")]
    Json(String),
    /// A field is missing, of the wrong type or out of range.
    #[error("service config: {0}")]
    Invalid(String),
    /// A policy breaks the rules of [`RetryPolicy::new`],
    /// [`HedgingPolicy::new`] or [`RetryThrottle::new`].
    #[error("service config: {0}")]
    Policy(#[from] RetryPolicyError),
}

fn invalid(what: impl Into<String>) -> ServiceConfigError {
    ServiceConfigError::Invalid(what.into())
}

impl RetryConfig {
    /// The retry settings of a service config in JSON:
    ///
    /// ```
    /// use wirestate_grpc::retry::RetryConfig;
    ///
    /// let config = RetryConfig::from_service_config(r#"{
    ///   "methodConfig": [
    ///     { "name": [{ "service": "demo.Pinger" }],
    ///       "retryPolicy": { "maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "1s",
    ///                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"] } },
    ///     { "name": [{ "service": "demo.Pinger", "method": "Lookup" }],
    ///       "hedgingPolicy": { "maxAttempts": 3, "hedgingDelay": "0.05s",
    ///                          "nonFatalStatusCodes": ["UNAVAILABLE", 4] } }
    ///   ],
    ///   "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 }
    /// }"#).unwrap();
    /// assert!(config.policy_for("/demo.Pinger/Ping").is_some());
    /// assert!(config.hedging_for("/demo.Pinger/Lookup").is_some());
    /// assert!(config.throttle().is_some());
    /// ```
    ///
    /// A `methodConfig` entry's `name`s are the default (`{}`), a service
    /// (`{"service": "pkg.Svc"}`) or a method (with `"method"`); the most
    /// specific wins, and an entry with neither policy leaves its names
    /// without one. Durations are JSON proto3 durations (`"0.5s"`),
    /// status codes names (`"UNAVAILABLE"`) or numbers.
    ///
    /// # Errors
    ///
    /// Text that is not JSON, fields of the wrong type, an entry with
    /// both policies, and policies the rules refuse.
    pub fn from_service_config(json: &str) -> Result<RetryConfig, ServiceConfigError> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| ServiceConfigError::Json(e.to_string()))?;
        let root = root
            .as_object()
            .ok_or_else(|| invalid("the service config must be an object"))?;
        let mut config = RetryConfig::new();
        if let Some(entries) = root.get("methodConfig") {
            let entries = entries
                .as_array()
                .ok_or_else(|| invalid("methodConfig must be an array"))?;
            for entry in entries {
                let entry = entry
                    .as_object()
                    .ok_or_else(|| invalid("a methodConfig entry must be an object"))?;
                let policy = method_policy(entry)?;
                let names = match entry.get("name") {
                    Some(Value::Array(names)) => names.as_slice(),
                    None => &[],
                    Some(_) => return Err(invalid("methodConfig name must be an array")),
                };
                for name in names {
                    let (service, method) = scope(name)?;
                    config.set_scope(service, method, policy.clone());
                }
            }
        }
        if let Some(t) = root.get("retryThrottling") {
            let t = t
                .as_object()
                .ok_or_else(|| invalid("retryThrottling must be an object"))?;
            let max = integer(t, "maxTokens")?.ok_or_else(|| invalid("maxTokens is required"))?;
            let ratio = t
                .get("tokenRatio")
                .and_then(Value::as_f64)
                .ok_or_else(|| invalid("tokenRatio must be a number"))?;
            config = config.with_throttle(RetryThrottle::new(max, ratio)?);
        }
        Ok(config)
    }
}

/// A `methodConfig` entry's policy: retry, hedging or none.
fn method_policy(entry: &Map<String, Value>) -> Result<Option<MethodPolicy>, ServiceConfigError> {
    match (entry.get("retryPolicy"), entry.get("hedgingPolicy")) {
        (Some(_), Some(_)) => Err(invalid(
            "a methodConfig entry has a retryPolicy or a hedgingPolicy, not both",
        )),
        (Some(p), None) => {
            let p = p
                .as_object()
                .ok_or_else(|| invalid("retryPolicy must be an object"))?;
            let max =
                integer(p, "maxAttempts")?.ok_or_else(|| invalid("maxAttempts is required"))?;
            let initial = duration(p, "initialBackoff")?
                .ok_or_else(|| invalid("initialBackoff is required"))?;
            let most =
                duration(p, "maxBackoff")?.ok_or_else(|| invalid("maxBackoff is required"))?;
            let multiplier = p
                .get("backoffMultiplier")
                .and_then(Value::as_f64)
                .ok_or_else(|| invalid("backoffMultiplier must be a number"))?;
            let codes = codes(p, "retryableStatusCodes")?;
            let policy = RetryPolicy::new(max, initial, most, multiplier, codes)?;
            Ok(Some(MethodPolicy::Retry(policy)))
        }
        (None, Some(p)) => {
            let p = p
                .as_object()
                .ok_or_else(|| invalid("hedgingPolicy must be an object"))?;
            let max =
                integer(p, "maxAttempts")?.ok_or_else(|| invalid("maxAttempts is required"))?;
            // Without a delay every attempt goes at once.
            let delay = duration(p, "hedgingDelay")?.unwrap_or(Duration::ZERO);
            let codes = codes(p, "nonFatalStatusCodes")?;
            Ok(Some(MethodPolicy::Hedging(HedgingPolicy::new(
                max, delay, codes,
            )?)))
        }
        (None, None) => Ok(None),
    }
}

/// A `name` entry: the default (no service), a service, or a method.
fn scope(name: &Value) -> Result<(Option<&str>, Option<&str>), ServiceConfigError> {
    let name = name
        .as_object()
        .ok_or_else(|| invalid("a methodConfig name must be an object"))?;
    let text = |key: &str| match name.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid(format!("name {key} must be a string"))),
    };
    match (text("service")?, text("method")?) {
        (None, Some(_)) => Err(invalid("a name with a method needs its service")),
        other => Ok(other),
    }
}

/// A non-negative integer field that fits `u32` (larger ones are capped,
/// as `maxAttempts` is anyway).
fn integer(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ServiceConfigError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|n| Some(u32::try_from(n).unwrap_or(u32::MAX)))
            .ok_or_else(|| invalid(format!("{key} must be a non-negative integer"))),
    }
}

/// The largest `google.protobuf.Duration`: 10,000 years of seconds.
const MAX_DURATION_SECS: u64 = 315_576_000_000;

/// A JSON proto3 duration field: seconds with up to nine decimals and an
/// `s`, not negative, at most [`MAX_DURATION_SECS`].
fn duration(obj: &Map<String, Value>, key: &str) -> Result<Option<Duration>, ServiceConfigError> {
    let Some(v) = obj.get(key) else {
        return Ok(None);
    };
    let bad = || invalid(format!("{key} must be a duration like \"0.5s\""));
    let text = v.as_str().ok_or_else(bad)?;
    let number = text.strip_suffix('s').ok_or_else(bad)?;
    let (secs, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || (!frac.is_empty() && !digits(frac)) || frac.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    // google.protobuf.Duration's range: a larger value is no duration,
    // and could not be added to a clock (the runtimes wait until
    // `now + delay`).
    if secs > MAX_DURATION_SECS {
        return Err(bad());
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(Some(Duration::new(secs, nanos)))
}

/// A list of status codes, by name or number.
fn codes(obj: &Map<String, Value>, key: &str) -> Result<Vec<Code>, ServiceConfigError> {
    let Some(v) = obj.get(key) else {
        return Ok(Vec::new());
    };
    let list = v
        .as_array()
        .ok_or_else(|| invalid(format!("{key} must be an array")))?;
    list.iter()
        .map(|c| match c {
            Value::String(name) => (0..=16)
                .map(Code::from_u32)
                .find(|code| code.name() == name)
                .ok_or_else(|| invalid(format!("{key}: unknown status code {name:?}"))),
            Value::Number(n) => n
                .as_u64()
                .filter(|n| *n <= 16)
                .map(|n| Code::from_u32(n as u32))
                .ok_or_else(|| invalid(format!("{key}: status code {n} out of range"))),
            _ => Err(invalid(format!(
                "{key}: a status code is a name or a number"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn reads_policies_names_and_throttle() {
        let config = RetryConfig::from_service_config(
            r#"{
              "loadBalancingConfig": [{"round_robin": {}}],
              "methodConfig": [
                { "name": [{}],
                  "timeout": "1s",
                  "retryPolicy": { "maxAttempts": 9, "initialBackoff": "0.1s",
                    "maxBackoff": "2.5s", "backoffMultiplier": 1.5,
                    "retryableStatusCodes": ["UNAVAILABLE", 8] } },
                { "name": [{ "service": "pkg.Fast" }, { "service": "pkg.Svc", "method": "Read" }],
                  "hedgingPolicy": { "maxAttempts": 3, "hedgingDelay": "0.000000500s",
                    "nonFatalStatusCodes": ["UNAVAILABLE"] } },
                { "name": [{ "service": "pkg.Svc", "method": "Charge" }] }
              ],
              "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.25 }
            }"#,
        )
        .unwrap();
        let retry = RetryPolicy::new(
            5,
            ms(100),
            ms(2500),
            1.5,
            [Code::Unavailable, Code::ResourceExhausted],
        )
        .unwrap();
        let hedge = HedgingPolicy::new(3, Duration::from_nanos(500), [Code::Unavailable]).unwrap();
        assert_eq!(config.policy_for("/other.Svc/M"), Some(&retry));
        assert_eq!(config.hedging_for("/pkg.Fast/Any"), Some(&hedge));
        assert_eq!(config.hedging_for("/pkg.Svc/Read"), Some(&hedge));
        assert_eq!(config.policy_for("/pkg.Svc/Other"), Some(&retry));
        // An entry without a policy: none for its names.
        assert_eq!(config.method_policy("/pkg.Svc/Charge"), None);
        assert_eq!(
            config.throttle(),
            Some(RetryThrottle::new(10, 0.25).unwrap())
        );
        // Hedging without a delay or non-fatal codes; nothing at all.
        let bare = RetryConfig::from_service_config(
            r#"{"methodConfig": [{"name": [{"service": "a.B"}], "hedgingPolicy": {"maxAttempts": 2}}]}"#,
        )
        .unwrap();
        assert_eq!(
            bare.hedging_for("/a.B/C"),
            Some(&HedgingPolicy::new(2, Duration::ZERO, []).unwrap())
        );
        assert_eq!(
            RetryConfig::from_service_config("{}").unwrap(),
            RetryConfig::new()
        );
    }

    #[test]
    fn refuses_what_the_rules_refuse() {
        let bad = |json: &str| RetryConfig::from_service_config(json).unwrap_err();
        assert!(matches!(bad("{"), ServiceConfigError::Json(_)));
        assert!(matches!(bad("[]"), ServiceConfigError::Invalid(_)));
        let both = r#"{"methodConfig": [{"name": [{}],
            "retryPolicy": {"maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s",
              "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
            "hedgingPolicy": {"maxAttempts": 2}}]}"#;
        assert!(matches!(bad(both), ServiceConfigError::Invalid(_)));
        let retry = |fields: &str| {
            format!(r#"{{"methodConfig": [{{"name": [{{}}], "retryPolicy": {{{fields}}}}}]}}"#)
        };
        let ok = r#""maxAttempts": 2, "initialBackoff": "1s", "maxBackoff": "1s", "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]"#;
        assert!(RetryConfig::from_service_config(&retry(ok)).is_ok());
        for broken in [
            ok.replace("\"1s\", \"maxBackoff\"", "\"-1s\", \"maxBackoff\""),
            ok.replace("\"1s\", \"maxBackoff\"", "\"1\", \"maxBackoff\""),
            ok.replace(
                "\"1s\", \"maxBackoff\"",
                "\"1.0000000001s\", \"maxBackoff\"",
            ),
            ok.replace("\"1s\", \"maxBackoff\"", "1, \"maxBackoff\""),
            // Past google.protobuf.Duration's range (10,000 years), and
            // past what a clock can add.
            ok.replace(
                "\"1s\", \"maxBackoff\": \"1s\"",
                "\"1s\", \"maxBackoff\": \"315576000001s\"",
            ),
            ok.replace(
                "\"1s\", \"maxBackoff\"",
                "\"18446744073709551615s\", \"maxBackoff\"",
            ),
            ok.replace("\"UNAVAILABLE\"", "\"unavailable\""),
            ok.replace("\"UNAVAILABLE\"", "17"),
            ok.replace("\"UNAVAILABLE\"", "true"),
            ok.replace("\"maxAttempts\": 2", "\"maxAttempts\": -2"),
            ok.replace("\"maxAttempts\": 2,", ""),
            ok.replace(
                "2, \"retryableStatusCodes\"",
                "\"2\", \"retryableStatusCodes\"",
            ),
        ] {
            assert!(
                matches!(bad(&retry(&broken)), ServiceConfigError::Invalid(_)),
                "{broken}"
            );
        }
        // The policy rules: one attempt, no retryable code.
        let one = ok.replace("\"maxAttempts\": 2", "\"maxAttempts\": 1");
        assert_eq!(
            bad(&retry(&one)),
            ServiceConfigError::Policy(RetryPolicyError::MaxAttempts(1))
        );
        let none = ok.replace("[\"UNAVAILABLE\"]", "[]");
        assert_eq!(
            bad(&retry(&none)),
            ServiceConfigError::Policy(RetryPolicyError::RetryableCodes)
        );
        let hedge_ok = r#"{"methodConfig": [{"name": [{"service": "a.B"}], "hedgingPolicy": {"maxAttempts": 2, "nonFatalStatusCodes": ["OK"]}}]}"#;
        assert_eq!(
            bad(hedge_ok),
            ServiceConfigError::Policy(RetryPolicyError::NonFatalCodes)
        );
        let method_only = r#"{"methodConfig": [{"name": [{"method": "M"}]}]}"#;
        assert!(matches!(bad(method_only), ServiceConfigError::Invalid(_)));
        let throttle = r#"{"retryThrottling": {"maxTokens": 0, "tokenRatio": 1}}"#;
        assert_eq!(
            bad(throttle),
            ServiceConfigError::Policy(RetryPolicyError::MaxTokens(0))
        );
        let no_ratio = r#"{"retryThrottling": {"maxTokens": 3}}"#;
        assert!(matches!(bad(no_ratio), ServiceConfigError::Invalid(_)));
        assert!(
            bad("{")
                .to_string()
                .starts_with("service config is not JSON")
        );
    }
}
