//! Compiled string patterns: literal text, `*` / `?` wildcards and policy variables.
//!
//! One mechanism serves every place where IAM compares a policy string with a request string:
//! actions (case-insensitive glob), resources and the `Arn*` operators (glob per ARN part), the
//! `StringLike` family (case-sensitive glob) and the `StringEquals` family (exact, where `*` is
//! plain text). Policy variables (`${aws:username}`, `${key, 'default'}`, `${*}` `${?}` `${$}`)
//! are resolved during matching, against the request, without building a new string: the
//! decision path does not allocate.

/// Resolves a lower-cased context key to its single string value (policy variables).
pub(crate) trait Resolve {
    /// The value of `key_lc`, when the request has exactly one value for it.
    fn resolve(&self, key_lc: &str) -> Option<&str>;
}

/// A resolver for patterns that have no variables (tests).
#[cfg(test)]
pub(crate) struct NoVars;

#[cfg(test)]
impl Resolve for NoVars {
    fn resolve(&self, _key_lc: &str) -> Option<&str> {
        None
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// Text matched character by character.
    Lit(Box<str>),
    /// `*`: any run of characters, including `:` and `/`.
    Star,
    /// `?`: exactly one character.
    Any,
    /// `${key}` or `${key, 'default'}`; the key is stored lower-cased because IAM looks up
    /// context keys case-insensitively.
    Var {
        key_lc: Box<str>,
        default: Option<Box<str>>,
    },
}

/// How the policy text is read when compiling a [`Pattern`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (`StringLike`, `ArnLike`, actions, resources).
    pub wildcards: bool,
    /// `${...}` is a policy variable (Version 2012-10-17 and only where AWS allows it).
    pub variables: bool,
}

/// A compiled policy string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    pieces: Vec<Piece>,
    /// Compare with Unicode simple case folding (actions, `StringEqualsIgnoreCase`).
    ignore_case: bool,
}

impl Pattern {
    /// Compiles `text`. An unterminated `${` is kept as literal text, as IAM does.
    pub(crate) fn compile(text: &str, syntax: Syntax, ignore_case: bool) -> Self {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.variables
                && rest.starts_with("${")
                && let Some(end) = rest.find('}')
            {
                let inner = rest.get(2..end).unwrap_or("");
                rest = rest.get(end + 1..).unwrap_or("");
                match inner.trim() {
                    // The three escapes AWS defines for characters that are otherwise special.
                    "*" | "?" | "$" => lit.push_str(inner.trim()),
                    body => {
                        flush(&mut pieces, &mut lit);
                        let (key, default) = split_default(body);
                        pieces.push(Piece::Var {
                            key_lc: key.to_ascii_lowercase().into(),
                            default: default.map(Into::into),
                        });
                    }
                }
                continue;
            }
            rest = rest.get(c.len_utf8()..).unwrap_or("");
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut pieces, &mut lit);
                    // Consecutive stars are one star.
                    if pieces.last() != Some(&Piece::Star) {
                        pieces.push(Piece::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut pieces, &mut lit);
                    pieces.push(Piece::Any);
                }
                _ => lit.push(c),
            }
        }
        flush(&mut pieces, &mut lit);
        Self {
            pieces,
            ignore_case,
        }
    }

    /// The text of a pattern that is plain text (no wildcard, no variable).
    pub(crate) fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Lit(l)] if !self.ignore_case => Some(l),
            _ => None,
        }
    }

    /// Whether `text` matches. An unresolvable variable without a default matches nothing.
    pub(crate) fn matches(&self, text: &str, vars: &dyn Resolve) -> bool {
        // Fast paths for the common shapes: `*`, plain text, `prefix*`.
        match self.pieces.as_slice() {
            [] => return text.is_empty(),
            [Piece::Star] => return true,
            [Piece::Lit(l)] => return eq(l, text, self.ignore_case),
            [Piece::Lit(l), Piece::Star] => {
                return text
                    .get(..l.len())
                    .is_some_and(|head| eq(l, head, self.ignore_case));
            }
            _ => {}
        }
        if self
            .pieces
            .iter()
            .any(|p| matches!(p, Piece::Var { .. }) && self.var_text(p, vars).is_none())
        {
            return false;
        }
        self.glob(text, vars)
    }

    fn var_text<'a>(&'a self, piece: &'a Piece, vars: &'a dyn Resolve) -> Option<&'a str> {
        match piece {
            Piece::Var { key_lc, default } => vars.resolve(key_lc).or(default.as_deref()),
            Piece::Lit(l) => Some(l),
            Piece::Star | Piece::Any => None,
        }
    }

    /// The token at `pos` and the position after it.
    fn token(&self, mut pos: Pos, vars: &dyn Resolve) -> (Tok, Pos) {
        loop {
            let Some(piece) = self.pieces.get(pos.piece) else {
                return (Tok::End, pos);
            };
            let next_piece = Pos {
                piece: pos.piece + 1,
                offset: 0,
            };
            match piece {
                Piece::Star => return (Tok::Star, next_piece),
                Piece::Any => return (Tok::Any, next_piece),
                Piece::Lit(_) | Piece::Var { .. } => {
                    let text = self.var_text(piece, vars).unwrap_or("");
                    match text.get(pos.offset..).and_then(|t| t.chars().next()) {
                        Some(c) => {
                            return (
                                Tok::Char(c),
                                Pos {
                                    piece: pos.piece,
                                    offset: pos.offset + c.len_utf8(),
                                },
                            );
                        }
                        None => pos = next_piece,
                    }
                }
            }
        }
    }

    /// Iterative wildcard matching with one backtrack point (the last `*`): linear in practice,
    /// O(n*m) at worst, never recursive, so bounded on any input.
    fn glob(&self, text: &str, vars: &dyn Resolve) -> bool {
        let mut p = Pos {
            piece: 0,
            offset: 0,
        };
        let mut t = 0usize;
        let mut star: Option<(Pos, usize)> = None;
        loop {
            let (tok, next) = self.token(p, vars);
            match text.get(t..).and_then(|rest| rest.chars().next()) {
                Some(c) => {
                    match tok {
                        Tok::Star => {
                            star = Some((next, t));
                            p = next;
                            continue;
                        }
                        Tok::Any => {
                            p = next;
                            t += c.len_utf8();
                            continue;
                        }
                        Tok::Char(pc) if char_eq(pc, c, self.ignore_case) => {
                            p = next;
                            t += c.len_utf8();
                            continue;
                        }
                        Tok::Char(_) | Tok::End => {}
                    }
                    // Mismatch: let the last star swallow one more character.
                    let Some((sp, st)) = star else { return false };
                    let Some(sc) = text.get(st..).and_then(|rest| rest.chars().next()) else {
                        return false;
                    };
                    let st = st + sc.len_utf8();
                    star = Some((sp, st));
                    p = sp;
                    t = st;
                }
                None => match tok {
                    Tok::End => return true,
                    Tok::Star => p = next,
                    Tok::Any | Tok::Char(_) => return false,
                },
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pos {
    piece: usize,
    offset: usize,
}

#[derive(Debug, Clone, Copy)]
enum Tok {
    End,
    Star,
    Any,
    Char(char),
}

fn flush(pieces: &mut Vec<Piece>, lit: &mut String) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit).into()));
    }
}

/// Splits `key, 'default'` (AWS's default-value syntax) into key and default.
fn split_default(body: &str) -> (&str, Option<&str>) {
    if let Some((key, default)) = body.split_once(',') {
        let d = default.trim();
        if let Some(inner) = d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')) {
            return (key.trim(), Some(inner));
        }
    }
    (body.trim(), None)
}

fn eq(a: &str, b: &str, ignore_case: bool) -> bool {
    if !ignore_case {
        return bytes_eq(a.as_bytes(), b.as_bytes());
    }
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    let mut ai = a.chars();
    let mut bi = b.chars();
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if char_eq(x, y, true) => {}
            _ => return false,
        }
    }
}

/// Byte equality without a `memcmp` call for the short strings policies are made of (a
/// call costs more than the comparison).
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// The first eight bytes of a short string packed into an integer, with its length: two
/// service prefixes are equal when their keys are, if neither is longer than eight bytes.
pub(crate) fn short_key(s: &str) -> u64 {
    let mut buf = [0u8; 8];
    for (slot, b) in buf.iter_mut().zip(s.bytes()) {
        *slot = b;
    }
    u64::from_le_bytes(buf) ^ ((s.len() as u64) << 56)
}

fn char_eq(a: char, b: char, ignore_case: bool) -> bool {
    a == b || (ignore_case && (a.to_lowercase().eq(b.to_lowercase())))
}

/// A resource or `Arn*` condition pattern: `*`, or six colon-separated parts matched one by
/// one (the sixth part, the resource, keeps its colons and slashes), as IAM compares ARNs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArnPattern {
    /// Matches any resource.
    Any,
    /// Matched part by part.
    Parts(Box<ArnParts>),
    /// Not ARN-shaped (rejected by validation; kept so a compiled policy never panics): a
    /// whole-string glob.
    Whole(Pattern),
}

/// A compiled six-part ARN pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArnParts {
    parts: [Pattern; 6],
    /// The leading literal parts joined, with a trailing colon.
    prefix: Box<str>,
    /// How many leading parts `prefix` covers.
    literal: usize,
}

impl ArnPattern {
    /// Compiles a resource pattern. AWS allows variables only in the resource part (after the
    /// fifth colon) of a `Resource` element; condition values may use them anywhere.
    pub(crate) fn compile(text: &str, variables: bool, vars_anywhere: bool) -> Self {
        if text == "*" {
            return Self::Any;
        }
        let mut parts = text.splitn(6, ':');
        let mut out: Vec<Pattern> = Vec::with_capacity(6);
        for i in 0..6 {
            let Some(part) = parts.next() else { break };
            let syntax = Syntax {
                wildcards: true,
                variables: variables && (vars_anywhere || i == 5),
            };
            out.push(Pattern::compile(part, syntax, false));
        }
        match <[Pattern; 6]>::try_from(out) {
            Ok(parts) => {
                // Leading parts without wildcards or variables (`arn:aws:s3:`) are compared as
                // one prefix; the rest part by part.
                let literal = parts
                    .iter()
                    .take(5)
                    .take_while(|p| p.literal().is_some())
                    .count();
                let mut prefix = String::new();
                for p in parts.iter().take(literal) {
                    prefix.push_str(p.literal().unwrap_or(""));
                    prefix.push(':');
                }
                Self::Parts(Box::new(ArnParts {
                    parts,
                    prefix: prefix.into(),
                    literal,
                }))
            }
            Err(_) => Self::Whole(Pattern::compile(
                text,
                Syntax {
                    wildcards: true,
                    variables,
                },
                false,
            )),
        }
    }

    /// Whether an ARN already split into its six parts matches (the request's resource,
    /// split once per request).
    pub(crate) fn matches_parts(
        &self,
        arn: &str,
        parts: Option<[&str; 6]>,
        vars: &dyn Resolve,
    ) -> bool {
        match (self, parts) {
            (Self::Any, _) => true,
            (Self::Whole(p), _) => p.matches(arn, vars),
            (Self::Parts(_), None) => false,
            (Self::Parts(a), Some(texts)) => {
                arn.as_bytes().starts_with(a.prefix.as_bytes())
                    && a.parts
                        .iter()
                        .zip(texts)
                        .skip(a.literal)
                        .all(|(p, t)| p.matches(t, vars))
            }
        }
    }

    /// Whether `arn` matches.
    pub(crate) fn matches(&self, arn: &str, vars: &dyn Resolve) -> bool {
        match self {
            Self::Any => true,
            Self::Whole(p) => p.matches(arn, vars),
            Self::Parts(a) => {
                let mut text_parts = arn.splitn(6, ':');
                for part in a.parts.iter() {
                    let Some(t) = text_parts.next() else {
                        return false;
                    };
                    if !part.matches(t, vars) {
                        return false;
                    }
                }
                true
            }
        }
    }
}

/// An action pattern: the service prefix (when it has no wildcard) checked first, then the
/// whole pattern, both against the lower-cased request action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionPattern {
    /// The service prefix and its [`short_key`].
    service: Option<(u64, Box<str>)>,
    pattern: Pattern,
}

impl ActionPattern {
    /// Compiles an `Action` / `NotAction` value (no policy variables in actions).
    pub(crate) fn compile(text: &str) -> Self {
        let lc = text.to_lowercase();
        let service = lc
            .split_once(':')
            .map(|(svc, _)| svc)
            .filter(|svc| !svc.contains(['*', '?']))
            .map(|svc| (short_key(svc), svc.into()));
        let syntax = Syntax {
            wildcards: true,
            variables: false,
        };
        Self {
            service,
            pattern: Pattern::compile(&lc, syntax, false),
        }
    }

    /// Whether the request's action matches.
    /// The fixed service prefix, `None` when the pattern may match any service.
    pub(crate) fn service(&self) -> Option<&str> {
        self.service.as_ref().map(|(_, s)| &**s)
    }

    /// `service_key` is [`short_key`] of `service_lc`.
    pub(crate) fn matches(
        &self,
        service_key: u64,
        service_lc: &str,
        action_lc: &str,
        vars: &dyn Resolve,
    ) -> bool {
        if let Some((key, svc)) = &self.service
            && (*key != service_key
                || (svc.len() > 8 && !bytes_eq(svc.as_bytes(), service_lc.as_bytes())))
        {
            return false;
        }
        self.pattern.matches(action_lc, vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Map(&'static [(&'static str, &'static str)]);
    impl Resolve for Map {
        fn resolve(&self, key_lc: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == key_lc).map(|(_, v)| *v)
        }
    }

    const GLOB: Syntax = Syntax {
        wildcards: true,
        variables: true,
    };
    const EXACT: Syntax = Syntax {
        wildcards: false,
        variables: true,
    };

    fn m(pat: &str, text: &str) -> bool {
        Pattern::compile(pat, GLOB, false).matches(text, &NoVars)
    }

    #[test]
    fn wildcards_cross_colons_and_slashes() {
        assert!(m("*", ""));
        assert!(m("s3:Get*", "s3:GetObject"));
        assert!(!m("s3:Get*", "s3:PutObject"));
        assert!(m("a*b*c", "a:x/b//c"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*Object", "s3:GetObject"));
        assert!(!m("*Object", "s3:GetObjects"));
        assert!(m("**a", "xxa"));
        assert!(m("a*", "a"));
        assert!(!m("abc", "abcd"));
    }

    #[test]
    fn case_folding_only_when_asked() {
        let p = Pattern::compile("S3:get*", GLOB, true);
        assert!(p.matches("s3:GetObject", &NoVars));
        assert!(!m("S3:get*", "s3:GetObject"));
    }

    #[test]
    fn variables_resolve_and_escape() {
        let vars = Map(&[("aws:username", "alice")]);
        let p = Pattern::compile("home/${aws:username}/*", GLOB, false);
        assert!(p.matches("home/alice/x", &vars));
        assert!(!p.matches("home/bob/x", &vars));
        assert!(!p.matches("home/alice/x", &NoVars));
        let d = Pattern::compile("${aws:PrincipalTag/team, 'none'}", EXACT, false);
        assert!(d.matches("none", &NoVars));
        let lit = Pattern::compile("a${*}b", GLOB, false);
        assert!(lit.matches("a*b", &NoVars));
        assert!(!lit.matches("axb", &NoVars));
        let star_literal = Pattern::compile("a*b", EXACT, false);
        assert!(star_literal.matches("a*b", &NoVars));
        assert!(!star_literal.matches("axb", &NoVars));
        // A variable's value is literal text even if it contains a wildcard character.
        let vars = Map(&[("k", "*")]);
        assert!(!Pattern::compile("${k}", GLOB, false).matches("x", &vars));
    }

    #[test]
    fn arns_match_part_by_part() {
        let p = ArnPattern::compile("arn:aws:s3:::bucket/*", true, false);
        assert!(p.matches("arn:aws:s3:::bucket/a/b:c", &NoVars));
        assert!(!p.matches("arn:aws:s3:::other/a", &NoVars));
        let p = ArnPattern::compile("arn:aws:iam::*:user/*", true, false);
        assert!(p.matches("arn:aws:iam::123456789012:user/alice", &NoVars));
        assert!(!p.matches("arn:aws:iam::123456789012:role/alice", &NoVars));
        // A star in the account part does not swallow the colon that follows it.
        let p = ArnPattern::compile("arn:aws:iam::*:user", true, false);
        assert!(!p.matches("arn:aws:iam::123456789012:role:user", &NoVars));
        assert!(!p.matches("not-an-arn", &NoVars));
    }
}
