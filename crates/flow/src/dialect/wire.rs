//! How a provider's token and device endpoints are written to and read from: the RFC's form
//! wire, or AWS SSO OIDC's camelCase JSON ([`Wire`]). The flow client sends every request
//! through [`Wire::request`] and reads every answer through [`Wire::decode`], so the encoding of
//! a provider's wire lives here, beside its dialect, and not in the client.

use crate::http::{Http, Raw};
use serde_json::{Map, Value};

/// How requests to the token and device endpoints are written and answers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// RFC 6749/8628: form-encoded parameters, snake_case JSON answers.
    Form,
    /// AWS SSO OIDC (`rest-json`): a JSON body with camelCase members (`clientId`,
    /// `grantType`, `deviceCode`, …), camelCase answers (`accessToken`, `expiresIn`,
    /// `verificationUriComplete`), errors still `{"error", "error_description"}` (snake_case).
    /// `scope` is never sent: the client registration's scopes decide (docs/aws.md).
    AwsJson,
}

impl Wire {
    /// A POST of `params` to `url` in this wire: a form, or a JSON body with camelCase names.
    pub fn request(
        self,
        http: &Http,
        url: &url::Url,
        params: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        match self {
            Wire::Form => http.form(url, params),
            Wire::AwsJson => http
                .client
                .post(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .json(&json_body(params)),
        }
    }

    /// An answer as the standard parsers read it: AWS's camelCase members in snake_case.
    pub fn decode(self, mut raw: Raw) -> Raw {
        if self == Wire::AwsJson {
            raw.body = snake_body(&raw.body);
        }
        raw
    }
}

/// `client_id` → `clientId`: the form parameter names as AWS's JSON members.
pub fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `accessToken` → `access_token`: AWS's answer members as the RFC names them, so the standard
/// parsers read them. Lower-case names (`error`, `error_description`, `interval`) are unchanged.
pub fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The JSON body for a form request's parameters: camelCase names; `scope` left out (AWS takes a
/// list there and the registration's scopes decide).
pub fn json_body(params: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    for (k, v) in params {
        if *k == "scope" {
            continue;
        }
        m.insert(camel(k), Value::String((*v).to_string()));
    }
    Value::Object(m)
}

/// A JSON object answer with its top-level members renamed to snake_case; anything else as it
/// was (the classifiers then say what is wrong with it).
pub fn snake_body(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => {
            let renamed: Map<String, Value> = m.into_iter().map(|(k, v)| (snake(&k), v)).collect();
            serde_json::to_vec(&Value::Object(renamed)).unwrap_or_else(|_| body.to_vec())
        }
        _ => body.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_names() {
        assert_eq!(camel("client_secret"), "clientSecret");
        assert_eq!(camel("grant_type"), "grantType");
        assert_eq!(camel("startUrl"), "startUrl");
        assert_eq!(
            snake("verificationUriComplete"),
            "verification_uri_complete"
        );
        assert_eq!(snake("error_description"), "error_description");
        let b = json_body(&[("client_id", "c"), ("scope", "x y"), ("device_code", "d")]);
        assert_eq!(b, json!({"clientId": "c", "deviceCode": "d"}));
        let s = snake_body(br#"{"accessToken":"a","expiresIn":3600,"tokenType":"Bearer"}"#);
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["access_token"], "a");
        assert_eq!(v["expires_in"], 3600);
    }
}
