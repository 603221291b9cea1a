//! Remote endpoint URLs in answers and the audit log: `user:pass@` shown as `user:***@`, and whether an edit moves the endpoint to another host (then its API key must be entered again).

/// Userinfo (`user:pass`) of an `http(s)://user:pass@host/...` URL.
fn userinfo(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| &authority[..at])
}

/// The URL with its password shown as `***` (what answers and the audit log carry).
pub fn redacted(url: &str) -> String {
    crate::engine::remote::redact_url(url)
}

/// `message` (an error about `url`) without the URL's userinfo or password.
pub fn scrub(message: &str, url: &str) -> String {
    let Some(info) = userinfo(url).filter(|i| !i.is_empty()) else { return message.to_string() };
    let mut out = message.replace(info, "***");
    if let Some((_, password)) = info.split_once(':').filter(|(_, p)| !p.is_empty()) {
        out = out.replace(password, "***");
    }
    out
}

/// `new` as it should be stored: a `user:***@` the admin sent back from a listing keeps the stored
/// password of `old` (same user).
pub fn keep_userinfo(new: &str, old: &str) -> String {
    match (userinfo(new).and_then(|i| i.strip_suffix(":***")), userinfo(old)) {
        (Some(user), Some(info)) if info.split_once(':').is_some_and(|(u, _)| u == user) => {
            new.replacen(&format!("{user}:***@"), &format!("{info}@"), 1)
        }
        _ => new.to_string(),
    }
}

/// Scheme, host and port, without userinfo, lowercased: where the API key is sent.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}").to_ascii_lowercase()
}

/// The edit sends the endpoint's requests (and so its API key) to another scheme, host or port.
pub fn moves_host(old: &str, new: &str) -> bool {
    origin(old) != origin(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_hidden_in_urls_and_messages() {
        let url = "https://svc:s3cr3t-pw@vllm.internal:8000/v1";
        assert_eq!(redacted(url), "https://svc:***@vllm.internal:8000/v1");
        assert_eq!(redacted("http://vllm:8000/v1"), "http://vllm:8000/v1");
        assert_eq!(redacted("http://vllm:8000/v1?next=a@b"), "http://vllm:8000/v1?next=a@b", "@ after the host");
        let message = "error sending request for url (https://svc:s3cr3t-pw@vllm.internal:8000/v1/models): s3cr3t-pw";
        let scrubbed = scrub(message, url);
        assert!(!scrubbed.contains("s3cr3t") && scrubbed.contains("vllm.internal"), "{scrubbed}");
        assert_eq!(keep_userinfo(&redacted(url), url), url, "a listed URL sent back keeps its userinfo");
        assert_eq!(
            keep_userinfo("https://other:pw@vllm.internal:8000/v1", url),
            "https://other:pw@vllm.internal:8000/v1"
        );
    }

    #[test]
    fn a_new_host_port_or_scheme_moves_the_endpoint() {
        let old = "http://user:pw@vllm:8000/v1";
        assert!(!moves_host(old, "http://VLLM:8000/v2"), "path and case are not a move");
        assert!(!moves_host(old, "http://vllm:8000/v1"), "userinfo is not a move");
        assert!(moves_host(old, "http://attacker:8000/v1"));
        assert!(moves_host(old, "http://vllm:9000/v1"));
        assert!(moves_host(old, "https://vllm:8000/v1"));
    }
}
