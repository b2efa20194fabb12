//! The regular-expression subset that botocore's `pattern` constraints use.
//!
//! AWS services check `pattern` with Java's `java.util.regex` against the whole value
//! (`Pattern.matches`): IAM rejects `a b` as a user name although `[\w+=,.@-]+` is found
//! inside it. So [`Regex::is_full_match`] answers whether the entire string matches, and
//! the syntax follows Java where flavours differ:
//! - `\w` `\d` `\s` are ASCII (`[a-zA-Z_0-9]`, `[0-9]`, `[ \t\n\x0B\f\r]`); `.` stops at
//!   line terminators unless `(?s)`; `$` also matches before a final line terminator.
//! - `\p{L}` `\p{N}` `\p{Z}` (and their `\P` complements) are Unicode categories. `\p{N}`
//!   is exact (`char::is_numeric`); `\p{Z}` is the fixed list of separators; `\p{L}` uses
//!   `char::is_alphabetic`, which also admits the few combining marks Unicode counts as
//!   alphabetic.
//! - `\uXXXX` escapes, with a surrogate pair `\uD800\uDC00` read as one code point as Java
//!   does. A few models write supplementary code points as `\u10000`-`\u10FFFF`; Java
//!   would read `\u1000` then `0`, but the intent (all supplementary characters) is taken.
//! - Groups, `(?:...)`, lookahead `(?=...)` / `(?!...)`, `(?s)`, alternation, greedy and
//!   lazy quantifiers (`*` `+` `?` `{n}` `{n,}` `{n,m}`), `^`, `$`, `\b`, `\B`.
//!
//! Which constructs occur was checked over every pattern of every generated service; a
//! test compiles them all. Matching is a Pike VM (a breadth-first NFA simulation): time is
//! linear in the input for a given pattern, with no backtracking blow-up on hostile input,
//! and lookaheads run as nested simulations from the current position.

use crate::ModelError;

type RegexError = ModelError;

/// Program size beyond which a pattern is refused (counted repetition expands copies).
const MAX_INSTS: usize = 200_000;
/// Group nesting beyond which a pattern is refused.
const MAX_DEPTH: usize = 64;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    main: Program,
    looks: Vec<Program>,
    /// Set when the whole pattern is one character class, repeated (`[\w+=,.@-]+`,
    /// `[\u0020-\u007E]{1,64}`, ...), as most AWS patterns are: matched by checking each
    /// character, without the VM.
    class_run: Option<ClassRun>,
}

/// A pattern that is one character class between `min` and `max` times.
#[derive(Debug, Clone)]
struct ClassRun {
    class: Class,
    min: u32,
    max: Option<u32>,
}

impl ClassRun {
    fn of(node: &Node) -> Option<Self> {
        match node {
            Node::Concat(items) if items.len() == 1 => Self::of(items.first()?),
            Node::Class(class) => Some(Self {
                class: class.clone(),
                min: 1,
                max: Some(1),
            }),
            Node::Repeat { node, min, max } => match Self::of(node)? {
                Self {
                    class,
                    min: 1,
                    max: Some(1),
                } => Some(Self {
                    class,
                    min: *min,
                    max: *max,
                }),
                _ => None,
            },
            _ => None,
        }
    }

    fn is_full_match(&self, text: &str) -> bool {
        let mut count: u64 = 0;
        for c in text.chars() {
            if !self.class.matches(c) {
                return false;
            }
            count += 1;
        }
        count >= u64::from(self.min) && self.max.is_none_or(|max| count <= u64::from(max))
    }
}

impl Regex {
    /// Compiles `pattern`.
    ///
    /// # Errors
    /// [`ModelError::Pattern`] when the pattern is malformed or uses a construct outside the subset.
    pub fn new(pattern: &str) -> Result<Self, ModelError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser {
            s: &chars,
            pos: 0,
            dotall: false,
            depth: 0,
        };
        let ast = p.parse_alt()?;
        if p.pos != chars.len() {
            return Err(p.err("unbalanced ')'"));
        }
        let mut c = Compiler { looks: Vec::new() };
        let main = c.program(&ast)?;
        Ok(Self {
            main,
            looks: c.looks,
            class_run: ClassRun::of(&ast),
        })
    }

    /// Whether the whole of `text` matches, as Java's `Pattern.matches`.
    #[must_use]
    pub fn is_full_match(&self, text: &str) -> bool {
        match &self.class_run {
            Some(run) => run.is_full_match(text),
            None => self.is_full_match_by_vm(text),
        }
    }

    /// The VM's answer alone (the fast path's oracle in tests).
    pub(crate) fn is_full_match_by_vm(&self, text: &str) -> bool {
        let input: Vec<char> = text.chars().collect();
        self.run(&self.main, &input, 0, true)
    }

    fn run(&self, prog: &Program, input: &[char], start: usize, to_end: bool) -> bool {
        let n = prog.insts.len();
        let mut clist = Threads::new(n);
        let mut nlist = Threads::new(n);
        let mut stack = Vec::new();
        if self.add(prog, &mut clist, &mut stack, 0, input, start, to_end) {
            return true;
        }
        let mut pos = start;
        while !clist.dense.is_empty() {
            let Some(&ch) = input.get(pos) else { break };
            nlist.clear();
            for i in 0..clist.dense.len() {
                let Some(&pc) = clist.dense.get(i) else {
                    continue;
                };
                let consumes = match prog.insts.get(pc) {
                    Some(Inst::Char(c)) => u32::from(ch) == *c,
                    Some(Inst::Any { dotall }) => *dotall || !is_line_terminator(ch),
                    Some(Inst::Class(class)) => class.matches(ch),
                    _ => false,
                };
                if consumes
                    && self.add(prog, &mut nlist, &mut stack, pc + 1, input, pos + 1, to_end)
                {
                    return true;
                }
            }
            std::mem::swap(&mut clist, &mut nlist);
            pos += 1;
        }
        false
    }

    /// Adds `pc` and its epsilon closure at `pos`; true when a `Match` is reached that
    /// counts (at the end of input for a full match, anywhere for a lookahead).
    #[expect(
        clippy::too_many_arguments,
        reason = "the VM's state, passed to avoid allocation"
    )]
    fn add(
        &self,
        prog: &Program,
        list: &mut Threads,
        stack: &mut Vec<usize>,
        pc: usize,
        input: &[char],
        pos: usize,
        to_end: bool,
    ) -> bool {
        stack.clear();
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if !list.insert(pc) {
                continue;
            }
            match prog.insts.get(pc) {
                Some(Inst::Match) => {
                    if !to_end || pos == input.len() {
                        return true;
                    }
                }
                Some(Inst::Jmp(t)) => stack.push(*t),
                Some(Inst::Split(a, b)) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Some(Inst::Assert(a)) => {
                    if a.holds(input, pos) {
                        stack.push(pc + 1);
                    }
                }
                Some(Inst::Look { sub, negate }) => {
                    let found = match self.looks.get(*sub) {
                        Some(p) => self.run(p, input, pos, false),
                        None => false,
                    };
                    if found != *negate {
                        stack.push(pc + 1);
                    }
                }
                // Consuming instructions wait in the list for the next character.
                Some(Inst::Char(_) | Inst::Any { .. } | Inst::Class(_)) | None => {}
            }
        }
        false
    }
}

/// A sparse set of program counters (the VM's thread list).
struct Threads {
    dense: Vec<usize>,
    seen: Vec<bool>,
}

impl Threads {
    fn new(n: usize) -> Self {
        Self {
            dense: Vec::with_capacity(n),
            seen: vec![false; n],
        }
    }

    fn insert(&mut self, pc: usize) -> bool {
        match self.seen.get_mut(pc) {
            Some(s) if !*s => {
                *s = true;
                self.dense.push(pc);
                true
            }
            _ => false,
        }
    }

    fn clear(&mut self) {
        for &pc in &self.dense {
            if let Some(s) = self.seen.get_mut(pc) {
                *s = false;
            }
        }
        self.dense.clear();
    }
}

fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_java_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `\b` in Java looks at letters and digits in the Unicode sense, plus `_`.
fn is_boundary_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assertion {
    Start,
    End,
    WordBoundary,
    NotWordBoundary,
}

impl Assertion {
    fn holds(self, input: &[char], pos: usize) -> bool {
        match self {
            Self::Start => pos == 0,
            Self::End => {
                // Java's `$` without MULTILINE: at the end, or before a final terminator.
                let rest = input.get(pos..).unwrap_or(&[]);
                match rest {
                    [] => true,
                    ['\r', '\n'] => true,
                    [c] => is_line_terminator(*c),
                    _ => false,
                }
            }
            Self::WordBoundary | Self::NotWordBoundary => {
                let before = pos
                    .checked_sub(1)
                    .and_then(|p| input.get(p))
                    .is_some_and(|&c| is_boundary_word(c));
                let after = input.get(pos).is_some_and(|&c| is_boundary_word(c));
                (before != after) == (self == Self::WordBoundary)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Perl {
    Digit,
    Word,
    Space,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Letter,
    Number,
    Separator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Range(u32, u32),
    Perl(Perl, bool),
    Unicode(Category, bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

impl Class {
    fn single(item: ClassItem) -> Self {
        Self {
            negated: false,
            items: vec![item],
        }
    }

    fn matches(&self, c: char) -> bool {
        let cp = u32::from(c);
        let hit = self.items.iter().any(|item| match item {
            ClassItem::Range(lo, hi) => *lo <= cp && cp <= *hi,
            ClassItem::Perl(p, neg) => perl(*p, c) != *neg,
            ClassItem::Unicode(cat, neg) => category(*cat, c) != *neg,
        });
        hit != self.negated
    }
}

fn perl(p: Perl, c: char) -> bool {
    match p {
        Perl::Digit => c.is_ascii_digit(),
        Perl::Word => is_java_word(c),
        Perl::Space => matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r'),
    }
}

fn category(cat: Category, c: char) -> bool {
    match cat {
        Category::Letter => c.is_alphabetic() && !c.is_numeric(),
        Category::Number => c.is_numeric(),
        // Unicode general category Z: Zs, Zl and Zp.
        Category::Separator => matches!(
            c,
            ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
        ),
    }
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Lit(u32),
    Any {
        dotall: bool,
    },
    Class(Class),
    Assert(Assertion),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
    Look {
        node: Box<Node>,
        negate: bool,
    },
}

struct Parser<'a> {
    s: &'a [char],
    pos: usize,
    dotall: bool,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> RegexError {
        ModelError::Pattern {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.s.get(self.pos + k).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn parse_alt(&mut self) -> Result<Node, RegexError> {
        let mut alts = vec![self.parse_concat()?];
        while self.eat('|') {
            alts.push(self.parse_concat()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(alts)
        })
    }

    fn parse_concat(&mut self) -> Result<Node, RegexError> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let Some(atom) = self.parse_atom()? else {
                continue;
            };
            let atom = self.parse_quantifier(atom)?;
            items.push(atom);
        }
        Ok(Node::Concat(items))
    }

    fn parse_quantifier(&mut self, atom: Node) -> Result<Node, RegexError> {
        let (min, max) = match self.peek() {
            Some('*') => {
                self.pos += 1;
                (0, None)
            }
            Some('+') => {
                self.pos += 1;
                (1, None)
            }
            Some('?') => {
                self.pos += 1;
                (0, Some(1))
            }
            Some('{') => {
                self.pos += 1;
                let min = self
                    .number()
                    .ok_or_else(|| self.err("expected a number in {}"))?;
                let max = if self.eat(',') {
                    if self.peek() == Some('}') {
                        None
                    } else {
                        self.number()
                    }
                } else {
                    Some(min)
                };
                if !self.eat('}') {
                    return Err(self.err("expected '}'"));
                }
                if max.is_some_and(|m| m < min) {
                    return Err(self.err("repetition range out of order"));
                }
                (min, max)
            }
            _ => return Ok(atom),
        };
        if matches!(atom, Node::Assert(_) | Node::Look { .. }) {
            return Err(self.err("quantified assertion"));
        }
        // A lazy quantifier matches the same set of strings; the VM only answers yes/no.
        if !self.eat('?') && self.peek() == Some('+') {
            return Err(self.err("possessive quantifiers are not supported"));
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
        })
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        let mut n: u32 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n.checked_mul(10)?.checked_add(d)?;
            self.pos += 1;
        }
        (self.pos > start).then_some(n)
    }

    fn parse_atom(&mut self) -> Result<Option<Node>, RegexError> {
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        self.pos += 1;
        Ok(Some(match c {
            '.' => Node::Any {
                dotall: self.dotall,
            },
            '^' => Node::Assert(Assertion::Start),
            '$' => Node::Assert(Assertion::End),
            '[' => Node::Class(self.parse_class()?),
            '(' => return self.parse_group(),
            '\\' => self.parse_escape()?,
            '*' | '+' | '?' | '{' => return Err(self.err("quantifier without operand")),
            other => Node::Lit(u32::from(other)),
        }))
    }

    fn parse_group(&mut self) -> Result<Option<Node>, RegexError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("groups nested too deeply"));
        }
        let saved_dotall = self.dotall;
        let mut look = None;
        if self.eat('?') {
            match self.peek() {
                Some(':') => self.pos += 1,
                Some('=') => {
                    self.pos += 1;
                    look = Some(false);
                }
                Some('!') => {
                    self.pos += 1;
                    look = Some(true);
                }
                Some('s') if self.peek_at(1) == Some(')') => {
                    // `(?s)` turns DOTALL on for the rest of the enclosing group.
                    self.pos += 2;
                    self.dotall = true;
                    self.depth -= 1;
                    return Ok(None);
                }
                _ => return Err(self.err("unsupported group construct")),
            }
        }
        let inner = self.parse_alt()?;
        if !self.eat(')') {
            return Err(self.err("missing ')'"));
        }
        self.dotall = saved_dotall;
        self.depth -= 1;
        Ok(Some(match look {
            Some(negate) => Node::Look {
                node: Box::new(inner),
                negate,
            },
            None => inner,
        }))
    }

    fn parse_escape(&mut self) -> Result<Node, RegexError> {
        let Some(c) = self.peek() else {
            return Err(self.err("trailing backslash"));
        };
        Ok(match c {
            'b' => {
                self.pos += 1;
                Node::Assert(Assertion::WordBoundary)
            }
            'B' => {
                self.pos += 1;
                Node::Assert(Assertion::NotWordBoundary)
            }
            _ => match self.parse_class_escape()? {
                Escaped::Char(cp) => Node::Lit(cp),
                Escaped::Item(item) => Node::Class(Class::single(item)),
            },
        })
    }

    /// An escape after `\` that is valid both inside and outside a class.
    fn parse_class_escape(&mut self) -> Result<Escaped, RegexError> {
        let Some(c) = self.peek() else {
            return Err(self.err("trailing backslash"));
        };
        self.pos += 1;
        Ok(match c {
            'd' => Escaped::Item(ClassItem::Perl(Perl::Digit, false)),
            'D' => Escaped::Item(ClassItem::Perl(Perl::Digit, true)),
            'w' => Escaped::Item(ClassItem::Perl(Perl::Word, false)),
            'W' => Escaped::Item(ClassItem::Perl(Perl::Word, true)),
            's' => Escaped::Item(ClassItem::Perl(Perl::Space, false)),
            'S' => Escaped::Item(ClassItem::Perl(Perl::Space, true)),
            'p' | 'P' => {
                let negate = c == 'P';
                let cat = if self.eat('{') {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != '}') {
                        self.pos += 1;
                    }
                    let name: String = self.s.get(start..self.pos).unwrap_or(&[]).iter().collect();
                    if !self.eat('}') {
                        return Err(self.err("missing '}' in \\p{...}"));
                    }
                    name
                } else {
                    self.peek().map(String::from).unwrap_or_default()
                };
                let cat = match cat.as_str() {
                    "L" | "IsL" => Category::Letter,
                    "N" | "IsN" => Category::Number,
                    "Z" | "IsZ" => Category::Separator,
                    _ => return Err(self.err("unsupported Unicode category")),
                };
                Escaped::Item(ClassItem::Unicode(cat, negate))
            }
            't' => Escaped::Char(0x09),
            'n' => Escaped::Char(0x0A),
            'r' => Escaped::Char(0x0D),
            'f' => Escaped::Char(0x0C),
            'a' => Escaped::Char(0x07),
            'e' => Escaped::Char(0x1B),
            'x' => {
                let v = self.hex(2, 2).ok_or_else(|| self.err("bad \\x escape"))?;
                Escaped::Char(v)
            }
            'u' => {
                let v = self.unicode_escape()?;
                Escaped::Char(v)
            }
            c if c.is_ascii_alphanumeric() => return Err(self.err("unsupported escape")),
            other => Escaped::Char(u32::from(other)),
        })
    }

    /// `\uXXXX`, joining a surrogate pair written as two escapes, and taking the
    /// 5- and 6-digit supplementary form some models use (see the module docs).
    fn unicode_escape(&mut self) -> Result<u32, RegexError> {
        let start = self.pos;
        let v = self.hex(4, 4).ok_or_else(|| self.err("bad \\u escape"))?;
        // Longest run of up to six hex digits that names a supplementary code point.
        for len in [6, 5] {
            let digits: Option<String> = self
                .s
                .get(start..start + len)
                .map(|d| d.iter().collect::<String>());
            if let Some(d) = digits
                && d.chars().all(|c| c.is_ascii_hexdigit())
                && let Ok(cp) = u32::from_str_radix(&d, 16)
                && (0x1_0000..=0x10_FFFF).contains(&cp)
            {
                self.pos = start + len;
                return Ok(cp);
            }
        }
        if (0xD800..0xDC00).contains(&v)
            && self.peek() == Some('\\')
            && self.peek_at(1) == Some('u')
        {
            let save = self.pos;
            self.pos += 2;
            if let Some(lo) = self.hex(4, 4)
                && (0xDC00..0xE000).contains(&lo)
            {
                return Ok(0x1_0000 + ((v - 0xD800) << 10) + (lo - 0xDC00));
            }
            self.pos = save;
        }
        Ok(v)
    }

    fn hex(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut v: u32 = 0;
        let mut n = 0;
        while n < max {
            let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else {
                break;
            };
            v = v * 16 + d;
            self.pos += 1;
            n += 1;
        }
        (n >= min).then_some(v)
    }

    fn parse_class(&mut self) -> Result<Class, RegexError> {
        let negated = self.eat('^');
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("missing ']'"));
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == '[' || (c == '&' && self.peek_at(1) == Some('&')) {
                return Err(self.err("nested classes and intersections are not supported"));
            }
            let lo = self.class_atom()?;
            let Escaped::Char(lo) = lo else {
                if let Escaped::Item(item) = lo {
                    items.push(item);
                }
                continue;
            };
            // A '-' makes a range unless it is last in the class; after a range or a class
            // escape it is a literal (Java reads `[0-9-_]` as digits, '-' and '_').
            if self.peek() == Some('-') && self.peek_at(1).is_some_and(|c| c != ']') {
                self.pos += 1;
                match self.class_atom()? {
                    Escaped::Char(hi) => {
                        if hi < lo {
                            return Err(self.err("class range out of order"));
                        }
                        items.push(ClassItem::Range(lo, hi));
                    }
                    Escaped::Item(item) => {
                        items.push(ClassItem::Range(lo, lo));
                        items.push(ClassItem::Range(0x2D, 0x2D));
                        items.push(item);
                    }
                }
            } else {
                items.push(ClassItem::Range(lo, lo));
            }
        }
        Ok(Class { negated, items })
    }

    fn class_atom(&mut self) -> Result<Escaped, RegexError> {
        let Some(c) = self.peek() else {
            return Err(self.err("missing ']'"));
        };
        self.pos += 1;
        if c == '\\' {
            self.parse_class_escape()
        } else {
            Ok(Escaped::Char(u32::from(c)))
        }
    }
}

enum Escaped {
    Char(u32),
    Item(ClassItem),
}

#[derive(Debug, Clone)]
enum Inst {
    Char(u32),
    Any { dotall: bool },
    Class(Box<Class>),
    Assert(Assertion),
    Look { sub: usize, negate: bool },
    Split(usize, usize),
    Jmp(usize),
    Match,
}

#[derive(Debug, Clone)]
struct Program {
    insts: Vec<Inst>,
}

struct Compiler {
    looks: Vec<Program>,
}

impl Compiler {
    fn program(&mut self, node: &Node) -> Result<Program, RegexError> {
        let mut insts = Vec::new();
        self.emit(node, &mut insts)?;
        insts.push(Inst::Match);
        Ok(Program { insts })
    }

    fn emit(&mut self, node: &Node, out: &mut Vec<Inst>) -> Result<(), RegexError> {
        if out.len() > MAX_INSTS {
            return Err(ModelError::Pattern {
                offset: 0,
                reason: "pattern too large",
            });
        }
        match node {
            Node::Empty => {}
            Node::Lit(c) => out.push(Inst::Char(*c)),
            Node::Any { dotall } => out.push(Inst::Any { dotall: *dotall }),
            Node::Class(c) => out.push(Inst::Class(Box::new(c.clone()))),
            Node::Assert(a) => out.push(Inst::Assert(*a)),
            Node::Concat(items) => {
                for item in items {
                    self.emit(item, out)?;
                }
            }
            Node::Alt(alts) => {
                // split L1, next; L1: alt0; jmp end; next: split L2, ...; last alt; end:
                let mut jumps = Vec::new();
                let count = alts.len();
                for (i, alt) in alts.iter().enumerate() {
                    if i + 1 < count {
                        let split = out.len();
                        out.push(Inst::Split(split + 1, 0));
                        self.emit(alt, out)?;
                        jumps.push(out.len());
                        out.push(Inst::Jmp(0));
                        let next = out.len();
                        if let Some(Inst::Split(_, b)) = out.get_mut(split) {
                            *b = next;
                        }
                    } else {
                        self.emit(alt, out)?;
                    }
                }
                let end = out.len();
                for j in jumps {
                    if let Some(Inst::Jmp(t)) = out.get_mut(j) {
                        *t = end;
                    }
                }
            }
            Node::Repeat { node, min, max } => {
                for _ in 0..*min {
                    self.emit(node, out)?;
                }
                match max {
                    None => {
                        // L: split body, end; body; jmp L; end:
                        let split = out.len();
                        out.push(Inst::Split(split + 1, 0));
                        self.emit(node, out)?;
                        out.push(Inst::Jmp(split));
                        let end = out.len();
                        if let Some(Inst::Split(_, b)) = out.get_mut(split) {
                            *b = end;
                        }
                    }
                    Some(max) => {
                        for _ in *min..*max {
                            let split = out.len();
                            out.push(Inst::Split(split + 1, 0));
                            self.emit(node, out)?;
                            let end = out.len();
                            if let Some(Inst::Split(_, b)) = out.get_mut(split) {
                                *b = end;
                            }
                        }
                    }
                }
            }
            Node::Look { node, negate } => {
                let sub = self.program(node)?;
                self.looks.push(sub);
                out.push(Inst::Look {
                    sub: self.looks.len() - 1,
                    negate: *negate,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(p: &str, s: &str) -> bool {
        Regex::new(p).unwrap().is_full_match(s)
    }

    #[test]
    fn iam_name_pattern_is_a_full_match() {
        let p = r"[\w+=,.@-]+";
        assert!(full(p, "alice"));
        assert!(full(p, "a.b+c=d,e@f-g_h"));
        assert!(!full(p, "a b"));
        assert!(!full(p, ""));
        assert!(!full(p, "bob!"));
        assert!(!full(p, "é"), "\\w is ASCII in Java");
    }

    #[test]
    fn policy_document_pattern() {
        let p = r"[\u0009\u000A\u000D\u0020-\u00FF]+";
        assert!(full(p, "{\n\t\"Version\": \"2012-10-17\"\r\n}"));
        assert!(!full(p, "\u{0001}"));
        assert!(!full(p, "\u{0100}"));
    }

    #[test]
    fn tag_pattern_uses_unicode_categories() {
        let p = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";
        assert!(full(p, "Team Ünïcode 123 _.:/=+-@"));
        assert!(full(p, "日本語\u{3000}٣"));
        assert!(!full(p, "a&b"));
        assert!(!full(p, "{x}"));
    }

    #[test]
    fn surrogate_pairs_and_supplementary_ranges() {
        let p = r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*";
        assert!(full(p, "ok 😀\t"));
        assert!(!full(p, "\u{0001}"));
        let p =
            r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+";
        assert!(full(p, "😀 plain"));
        assert!(!full(p, "\u{0002}"));
    }

    #[test]
    fn anchors_alternation_and_counts() {
        let p = r"^(r-[0-9a-z]{4,32})|(\d{12})|(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$";
        assert!(full(p, "r-abcd"));
        assert!(full(p, "123456789012"));
        assert!(full(p, "ou-abcd-12345678"));
        assert!(!full(p, "r-abc"));
        assert!(!full(p, "12345678901"));
        assert!(full(r"\d{12}", "000000000000"));
        assert!(!full(r"\d{12}", "0000000000000"));
        assert!(full(
            r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$",
            "1234abcd-1234-abcd-1234-1234567890ab"
        ));
    }

    #[test]
    fn lookaheads() {
        let p = r"(?!aws:)[a-zA-Z+-=._:/]+";
        assert!(full(p, "team:x"));
        assert!(!full(p, "aws:x"));
        let p = r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$";
        assert!(full(p, "my-bucket"));
        assert!(!full(p, "my--bucket"));
    }

    #[test]
    fn dot_and_dotall() {
        assert!(full(r".*\S.*", " x "));
        assert!(!full(r".*\S.*", "   "));
        assert!(
            !full(r".*\S.*", "a\nb"),
            "Java's '.' stops at line terminators"
        );
        assert!(full(r"(?s).*", "a\nb"));
        assert!(full(r"[\s\S]*", "a\nb"));
    }

    #[test]
    fn word_boundaries() {
        let p = r".*\b[a-f0-9]{8}\b-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-\b[a-f0-9]{12}\b.*";
        assert!(full(p, "id 1234abcd-1234-abcd-1234-1234567890ab!"));
        assert!(!full(p, "x1234abcd-1234-abcd-1234-1234567890ab"));
    }

    #[test]
    fn dash_after_range_is_literal() {
        assert!(full(r"[a-zA-Z0-9-_$:.]*", "a-b_c$d:e.f"));
        assert!(!full(r"[a-zA-Z0-9-_$:.]*", "a b"));
        assert!(full(r"[\w-]+", "a-b"));
    }

    #[test]
    fn hostile_input_is_linear() {
        let re = Regex::new(r"((/[A-Za-z0-9\.,\+@=_-]+)*)/").unwrap();
        let s = "/a".repeat(20_000) + "!";
        assert!(!re.is_full_match(&s));
    }

    #[test]
    fn rejects_unsupported_syntax() {
        assert!(Regex::new(r"(?<=a)b").is_err());
        assert!(Regex::new(r"a++").is_err());
        assert!(Regex::new(r"[a").is_err());
        assert!(Regex::new(r"(a").is_err());
        assert!(Regex::new(r"a)").is_err());
        assert!(Regex::new(r"\p{Greek}").is_err());
    }
}
