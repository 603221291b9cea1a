//! Poetry-style version constraints for prompt versions: `^1.0.0`, `~1.1`, `>=1.0.0,<2`, `1.2.*`, exact versions.
//!
//! Grammar (whitespace around operators is allowed):
//! - a constraint is one or more alternatives separated by `||` (or `|`);
//! - an alternative is one or more terms separated by commas and/or whitespace, all of which must hold;
//! - a term is `*`, a version (`1.2.0`, `==1.2.0`, `=1.2`: exact), a wildcard (`1.*`, `==1.2.*`, `!=1.*`),
//!   a comparison (`>=`, `>`, `<=`, `<`, `!=`), a caret (`^1.2.3`), a tilde (`~1.2`) or a compatible
//!   release (`~=1.2`).
//!
//! Only exact terms match pre-release versions (`1.1.0-dev`, `1.0.0rc1`); every range term matches stable
//! versions only. A constraint that is not a version expression but looks like a name (letters, digits,
//! `._+-/`, e.g. `amazon_q/1.0.0`) is an exact name that matches only an identical version string.

use std::cmp::Ordering;

/// A parsed version: up to three numeric components (missing ones are 0) and an optional pre-release tag.
/// Build metadata (`+…`) is accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `dev`, `rc.1`, `a1`…; a version with a tag is not stable.
    pub pre: Option<String>,
}

impl Version {
    /// Parses `1`, `1.2`, `1.2.3`, `v1.2.3`, `1.2.3-dev`, `1.2.3rc1`, `1.2.3.dev0`, `1.2.3+build`.
    pub fn parse(text: &str) -> Result<Version, String> {
        let partial = Partial::parse(text)?;
        if partial.wildcard {
            return Err(format!("`{text}` is a wildcard, not a version"));
        }
        Ok(partial.version())
    }

    /// True when the version has no pre-release tag.
    pub fn is_stable(&self) -> bool {
        self.pre.is_none()
    }

    fn bump_major(&self) -> Version {
        Version { major: self.major.saturating_add(1), minor: 0, patch: 0, pre: None }
    }

    fn bump_minor(&self) -> Version {
        Version { major: self.major, minor: self.minor.saturating_add(1), patch: 0, pre: None }
    }

    fn bump_patch(&self) -> Version {
        Version { major: self.major, minor: self.minor, patch: self.patch.saturating_add(1), pre: None }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch)).then_with(|| {
            match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre(a, b),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Semver-like pre-release order: dot-separated identifiers, numbers numerically and before words.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut left = a.split(['.', '-']);
    let mut right = b.split(['.', '-']);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// Orders two version strings; strings that are not versions sort below every version (and equal to each other).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => Ordering::Equal,
    }
}

/// A version as written in a constraint: how many components were given matters for `^`, `~` and `.*`.
#[derive(Debug)]
struct Partial {
    parts: Vec<u64>,
    pre: Option<String>,
    wildcard: bool,
}

impl Partial {
    fn parse(text: &str) -> Result<Partial, String> {
        let body = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let body = match body.split_once('+') {
            Some((head, build)) if valid_tag(build) => head,
            Some(_) => return Err(format!("invalid build metadata in `{text}`")),
            None => body,
        };
        let bytes = body.as_bytes();
        let mut parts = Vec::new();
        let mut pos = 0;
        let mut wildcard = false;
        loop {
            if bytes.get(pos) == Some(&b'*') {
                if parts.is_empty() {
                    return Err(format!("`{text}`: a bare `*` cannot be combined with other text"));
                }
                wildcard = true;
                pos += 1;
                break;
            }
            let start = pos;
            while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            if start == pos {
                return Err(format!("`{text}` is not a version"));
            }
            let number = body[start..pos].parse::<u64>().map_err(|_| format!("number too large in `{text}`"))?;
            parts.push(number);
            // Another component follows only if the dot is followed by a digit or `*`.
            let next_is_component =
                bytes.get(pos) == Some(&b'.') && bytes.get(pos + 1).is_some_and(|b| b.is_ascii_digit() || *b == b'*');
            if !next_is_component {
                break;
            }
            if parts.len() == 3 {
                return Err(format!("`{text}` has more than three version components"));
            }
            pos += 1;
        }
        let rest = &body[pos..];
        let pre = if rest.is_empty() {
            None
        } else if wildcard {
            return Err(format!("`{text}`: nothing may follow a `*`"));
        } else {
            let tag = rest.strip_prefix(['-', '.', '_']).unwrap_or(rest);
            if !tag.starts_with(|c: char| c.is_ascii_alphanumeric()) || !valid_tag(tag) {
                return Err(format!("invalid pre-release tag in `{text}`"));
            }
            Some(tag.to_string())
        };
        Ok(Partial { parts, pre, wildcard })
    }

    fn version(&self) -> Version {
        let get = |i: usize| self.parts.get(i).copied().unwrap_or(0);
        Version { major: get(0), minor: get(1), patch: get(2), pre: self.pre.clone() }
    }

    /// The half-open range a wildcard covers: `1.*` → [1.0.0, 2.0.0), `1.2.*` → [1.2.0, 1.3.0).
    fn wildcard_range(&self) -> (Version, Version) {
        let low = self.version();
        let high = if self.parts.len() == 1 { low.bump_major() } else { low.bump_minor() };
        (low, high)
    }
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// One end of a range.
#[derive(Debug, Clone, PartialEq)]
struct Bound {
    version: Version,
    inclusive: bool,
}

/// One condition on a version.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// `1.2.0`, `==1.2.0`: exactly this version, pre-releases included.
    Exact(Version),
    /// Stable versions between the bounds (a missing bound is open).
    Range { min: Option<Bound>, max: Option<Bound> },
    /// `!=1.2.0` (`max` is None) or `!=1.2.*` (not in `[min, max)`): stable versions outside.
    Except { min: Version, max: Option<Version> },
}

impl Term {
    fn parse(token: &str) -> Result<Term, String> {
        if token == "*" {
            return Ok(Term::Range { min: None, max: None });
        }
        const OPERATORS: [&str; 10] = ["~=", "==", "!=", ">=", "<=", "^", "~", ">", "<", "="];
        let (op, rest) =
            OPERATORS.iter().find_map(|op| token.strip_prefix(op).map(|rest| (*op, rest))).unwrap_or(("", token));
        let partial = Partial::parse(rest.trim())?;
        let at_least = |version: Version| Some(Bound { version, inclusive: true });
        let below = |version: Version| Some(Bound { version, inclusive: false });
        if partial.wildcard {
            let (low, high) = partial.wildcard_range();
            return match op {
                "" | "==" | "=" => Ok(Term::Range { min: at_least(low), max: below(high) }),
                "!=" => Ok(Term::Except { min: low, max: Some(high) }),
                _ => Err(format!("`{token}`: `{op}` cannot be used with a wildcard")),
            };
        }
        let version = partial.version();
        let n = partial.parts.len();
        Ok(match op {
            "" | "==" | "=" => Term::Exact(version),
            "!=" => Term::Except { min: version, max: None },
            ">=" => Term::Range { min: at_least(version), max: None },
            ">" => Term::Range { min: Some(Bound { version, inclusive: false }), max: None },
            "<=" => Term::Range { min: None, max: Some(Bound { version, inclusive: true }) },
            "<" => Term::Range { min: None, max: below(version) },
            "^" => {
                let high = if version.major > 0 || n == 1 {
                    version.bump_major()
                } else if version.minor > 0 || n == 2 {
                    version.bump_minor()
                } else {
                    version.bump_patch()
                };
                Term::Range { min: at_least(version), max: below(high) }
            }
            "~" => {
                let high = if n == 1 { version.bump_major() } else { version.bump_minor() };
                Term::Range { min: at_least(version), max: below(high) }
            }
            "~=" => {
                if n < 2 {
                    return Err(format!("`{token}`: `~=` needs at least two version components"));
                }
                let high = if n == 2 { version.bump_major() } else { version.bump_minor() };
                Term::Range { min: at_least(version), max: below(high) }
            }
            _ => unreachable!("every operator in OPERATORS is handled"),
        })
    }

    fn matches(&self, version: &Version) -> bool {
        match self {
            Term::Exact(exact) => version.cmp(exact) == Ordering::Equal,
            Term::Range { min, max } => {
                version.is_stable()
                    && min
                        .as_ref()
                        .is_none_or(|b| if b.inclusive { version >= &b.version } else { version > &b.version })
                    && max
                        .as_ref()
                        .is_none_or(|b| if b.inclusive { version <= &b.version } else { version < &b.version })
            }
            Term::Except { min, max: None } => version.is_stable() && version.cmp(min) != Ordering::Equal,
            Term::Except { min, max: Some(max) } => version.is_stable() && !(version >= min && version < max),
        }
    }
}

/// A parsed constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint(Kind);

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Alternatives (`||`), each a conjunction of terms.
    Expr(Vec<Vec<Term>>),
    /// Not a version expression: matches only a version string equal to it (e.g. `amazon_q/1.0.0`).
    Name(String),
}

impl Constraint {
    /// Parses a constraint; the error message quotes the constraint and says what is wrong with it.
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty version constraint".to_string());
        }
        match parse_expr(text) {
            Ok(alternatives) => Ok(Constraint(Kind::Expr(alternatives))),
            Err(_) if looks_like_name(text) => Ok(Constraint(Kind::Name(text.to_string()))),
            Err(why) => Err(format!("invalid version constraint `{text}`: {why}")),
        }
    }

    /// True for an exact version name such as `amazon_q/1.0.0` (not a version expression).
    pub fn is_name(&self) -> bool {
        matches!(self.0, Kind::Name(_))
    }

    /// True when `version` (a shipped version string) satisfies the constraint.
    pub fn matches(&self, version: &str) -> bool {
        match &self.0 {
            Kind::Name(name) => name == version,
            Kind::Expr(alternatives) => match Version::parse(version) {
                Ok(v) => alternatives.iter().any(|terms| terms.iter().all(|term| term.matches(&v))),
                Err(_) => false,
            },
        }
    }
}

/// Parses `constraint` and checks `version` against it.
pub fn matches(constraint: &str, version: &str) -> Result<bool, String> {
    Ok(Constraint::parse(constraint)?.matches(version))
}

fn looks_like_name(text: &str) -> bool {
    text.chars().all(|c| c.is_ascii_alphanumeric() || "._+-/".contains(c))
        && text.chars().any(|c| c.is_ascii_alphabetic() || c == '/')
}

fn parse_expr(text: &str) -> Result<Vec<Vec<Term>>, String> {
    text.replace("||", "|").split('|').map(parse_conjunction).collect()
}

/// Terms separated by commas and/or whitespace; an operator may be separated from its version by spaces.
fn parse_conjunction(text: &str) -> Result<Vec<Term>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty alternative".to_string());
    }
    let mut terms = Vec::new();
    for piece in text.split(',') {
        let mut pending_op: Option<&str> = None;
        let mut seen = false;
        for word in piece.split_whitespace() {
            seen = true;
            if word.chars().all(|c| "<>=!^~".contains(c)) {
                if pending_op.is_some() {
                    return Err(format!("two operators in a row near `{word}`"));
                }
                pending_op = Some(word);
                continue;
            }
            let term = match pending_op.take() {
                Some(op) => Term::parse(&format!("{op}{word}"))?,
                None => Term::parse(word)?,
            };
            terms.push(term);
        }
        if let Some(op) = pending_op {
            return Err(format!("operator `{op}` without a version"));
        }
        if !seen {
            return Err("empty term between commas".to_string());
        }
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    //! Tests for Poetry-style version constraints.

    use super::*;

    fn yes(constraint: &str, version: &str) -> bool {
        matches(constraint, version).unwrap_or_else(|e| panic!("`{constraint}` should parse: {e}"))
    }

    fn check(constraint: &str, matching: &[&str], not_matching: &[&str]) {
        for v in matching {
            assert!(yes(constraint, v), "`{constraint}` should match {v}");
        }
        for v in not_matching {
            assert!(!yes(constraint, v), "`{constraint}` should not match {v}");
        }
    }

    #[test]
    fn caret() {
        check("^1.0.0", &["1.0.0", "1.0.1", "1.9.9", "1.10.0"], &["0.9.9", "2.0.0", "2.0.1", "3.0.0"]);
        check("^1.2.3", &["1.2.3", "1.3.0"], &["1.2.2", "2.0.0"]);
        check("^1", &["1.0.0", "1.5.0"], &["2.0.0", "0.1.0"]);
        check("^1.2", &["1.2.0", "1.9.0"], &["1.1.9", "2.0.0"]);
        check("^2.0.0", &["2.0.0", "2.3.1"], &["1.0.0", "3.0.0"]);
    }

    #[test]
    fn caret_below_one() {
        check("^0.2.3", &["0.2.3", "0.2.9"], &["0.2.2", "0.3.0", "1.0.0"]);
        check("^0.0.3", &["0.0.3"], &["0.0.4", "0.1.0"]);
        check("^0.0", &["0.0.0", "0.0.9"], &["0.1.0"]);
        check("^0", &["0.0.0", "0.9.9"], &["1.0.0"]);
    }

    #[test]
    fn tilde() {
        check("~1.1", &["1.1.0", "1.1.9"], &["1.0.9", "1.2.0", "2.0.0"]);
        check("~1", &["1.0.0", "1.9.9"], &["0.9.0", "2.0.0"]);
        check("~1.1.2", &["1.1.2", "1.1.9"], &["1.1.1", "1.2.0"]);
        check("~1.0", &["1.0.0"], &["1.1.0", "2.0.0"]);
    }

    #[test]
    fn compatible_release() {
        check("~=1.2", &["1.2.0", "1.9.0"], &["1.1.0", "2.0.0"]);
        check("~=1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]);
        assert!(matches("~=1", "1.0.0").is_err());
    }

    #[test]
    fn exact() {
        check("1.2.0", &["1.2.0"], &["1.2.1", "1.1.0", "1.2.0-dev"]);
        check("==1.2.0", &["1.2.0"], &["1.2.1"]);
        check("=1.2.0", &["1.2.0"], &["1.2.1"]);
        check("1.2", &["1.2.0"], &["1.2.1"]);
        check("1", &["1.0.0"], &["1.0.1"]);
        check("v1.0.0", &["1.0.0"], &["2.0.0"]);
        check("1.0.0+build.5", &["1.0.0"], &["1.0.1"]);
    }

    #[test]
    fn comparisons() {
        check(">=1.0.0", &["1.0.0", "5.0.0"], &["0.9.9"]);
        check(">1.0.0", &["1.0.1", "2.0.0"], &["1.0.0", "0.1.0"]);
        check("<2", &["1.9.9", "0.0.1"], &["2.0.0", "2.0.1"]);
        check("<=2.0.0", &["2.0.0", "1.0.0"], &["2.0.1"]);
        check("!=1.1.0", &["1.0.0", "1.1.1"], &["1.1.0"]);
    }

    #[test]
    fn conjunctions() {
        check(">=1.0.0,<2.0.0", &["1.0.0", "1.9.9"], &["0.9.0", "2.0.0"]);
        check(">=1.0.0, <2.0.0", &["1.5.0"], &["2.0.0"]);
        check(">=1.0.0 <2.0.0", &["1.5.0"], &["2.0.0"]);
        check(">= 1.0.0 , < 2.0.0", &["1.5.0"], &["2.0.0"]);
        check(">=1.0,!=1.1.0,<2", &["1.0.0", "1.2.0"], &["1.1.0", "2.0.0"]);
        check("  ^1.0.0  ", &["1.0.0"], &["2.0.0"]);
    }

    #[test]
    fn alternatives() {
        check("^1.0.0 || ^3.0.0", &["1.2.0", "3.1.0"], &["2.0.0", "4.0.0"]);
        check("1.0.0|2.0.0", &["1.0.0", "2.0.0"], &["1.5.0"]);
    }

    #[test]
    fn star_and_wildcards() {
        check("*", &["0.0.1", "1.0.0", "99.0.0"], &["1.1.0-dev"]);
        check("1.*", &["1.0.0", "1.9.0"], &["2.0.0", "0.9.0"]);
        check("1.2.*", &["1.2.0", "1.2.7"], &["1.3.0", "1.1.0"]);
        check("==1.*", &["1.4.0"], &["2.0.0"]);
        check("!=1.*", &["2.0.0", "0.1.0"], &["1.0.0", "1.5.5"]);
        assert!(matches(">=1.*", "1.0.0").is_err());
        assert!(matches("1.*.3", "1.0.3").is_err());
    }

    #[test]
    fn ranges_skip_pre_releases() {
        for constraint in ["^1.0.0", "~1.1", ">=1.0.0", "<2", "*", "!=1.0.0", ">=1.0.0,<2.0.0", "1.*"] {
            assert!(!yes(constraint, "1.1.0-dev"), "`{constraint}` must not match a pre-release");
        }
        check("1.1.0-dev", &["1.1.0-dev"], &["1.1.0", "1.1.0-rc"]);
        check("==1.1.0-dev", &["1.1.0-dev"], &["1.1.0"]);
        check("1.0.0rc1", &["1.0.0rc1", "1.0.0-rc1"], &["1.0.0"]);
    }

    #[test]
    fn exact_names() {
        check("amazon_q/1.0.0", &["amazon_q/1.0.0"], &["1.0.0", "amazon_q/1.0.1"]);
        assert!(Constraint::parse("amazon_q/1.0.0").unwrap().is_name());
        assert!(Constraint::parse("latest").unwrap().is_name());
        assert!(!Constraint::parse("^1.0.0").unwrap().is_name());
        assert!(!Constraint::parse("1.0.0-dev").unwrap().is_name());
    }

    #[test]
    fn expressions_do_not_match_names() {
        assert!(!yes("^1.0.0", "amazon_q/1.0.0"));
        assert!(!yes("*", "amazon_q/1.0.0"));
    }

    #[test]
    fn unparsable() {
        for bad in
            ["", "   ", "nonsense!!", ">=", "^", "1.0.0.0.0", ">=1.0.0,,<2", "^1.0.0 ||", ">= >= 1", "1.0.0 -", "~x"]
        {
            let err = matches(bad, "1.0.0").expect_err(bad);
            assert!(!err.is_empty());
        }
        let err = matches("nonsense!!", "1.0.0").unwrap_err();
        assert!(err.contains("`nonsense!!`"), "{err}");
    }

    #[test]
    fn version_order() {
        let mut versions =
            ["2.0.0", "1.0.0-rc.1", "1.0.0", "1.0.0-alpha", "1.10.0", "1.2.0", "1.0.0-rc.2", "1.0.0-beta"];
        versions.sort_by(|a, b| compare(a, b));
        assert_eq!(
            versions,
            ["1.0.0-alpha", "1.0.0-beta", "1.0.0-rc.1", "1.0.0-rc.2", "1.0.0", "1.2.0", "1.10.0", "2.0.0"]
        );
        assert_eq!(compare("amazon_q/1.0.0", "0.0.1"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0.0"), Ordering::Equal);
    }

    #[test]
    fn version_parse() {
        let v = Version::parse("1.2.3-dev").unwrap();
        assert_eq!((v.major, v.minor, v.patch, v.pre.as_deref()), (1, 2, 3, Some("dev")));
        assert!(!v.is_stable());
        assert!(Version::parse("1.2.3").unwrap().is_stable());
        assert_eq!(Version::parse("1.0.0.dev0").unwrap().pre.as_deref(), Some("dev0"));
        assert!(Version::parse("1.*").is_err());
        assert!(Version::parse("").is_err());
        assert!(Version::parse("1.2.3-").is_err());
        assert!(Version::parse("99999999999999999999999").is_err());
        // Bumping the largest number saturates instead of overflowing (no panic).
        assert!(matches("^18446744073709551615", "1.0.0").is_ok());
        assert!(matches("~0.18446744073709551615", "1.0.0").is_ok());
    }
}
