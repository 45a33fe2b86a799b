//! Unicode character classes the Qwen2 pre-tokenizer and Python's `repr` need, from the tables
//! of `regex-syntax` (the same Unicode data the `regex` crate uses; a few releases newer or
//! older than Oniguruma's or Python's, which only matters for characters assigned recently).

use regex_syntax::hir::{Class, HirKind};
use std::sync::OnceLock;

/// Sorted, disjoint inclusive ranges of one class.
struct Ranges(Vec<(char, char)>);

impl Ranges {
    fn parse(pattern: &str) -> Ranges {
        // The patterns are constants: a parse failure is a bug in this file, caught by the tests.
        let hir = regex_syntax::Parser::new().parse(pattern).expect("a valid Unicode class pattern");
        match hir.kind() {
            HirKind::Class(Class::Unicode(c)) => Ranges(c.ranges().iter().map(|r| (r.start(), r.end())).collect()),
            _ => Ranges(Vec::new()),
        }
    }
    fn contains(&self, c: char) -> bool {
        self.0
            .binary_search_by(|&(a, b)| {
                if b < c {
                    std::cmp::Ordering::Less
                } else if a > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }
}

fn letters() -> &'static Ranges {
    static L: OnceLock<Ranges> = OnceLock::new();
    L.get_or_init(|| Ranges::parse(r"\p{L}"))
}

/// Characters Python's `str.isprintable` rejects: General_Category Other (Cc, Cf, Cs, Co, Cn)
/// and Separator (Zs, Zl, Zp); the ASCII space is printable and handled by the caller.
fn unprintable() -> &'static Ranges {
    static C: OnceLock<Ranges> = OnceLock::new();
    C.get_or_init(|| Ranges::parse(r"[\p{C}\p{Z}]"))
}

/// `\p{L}`: General_Category Letter (Lu, Ll, Lt, Lm, Lo).
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    letters().contains(c)
}

/// `\p{N}`: General_Category Number (Nd, Nl, No), which is exactly Rust's `is_numeric`.
pub fn is_number(c: char) -> bool {
    c.is_numeric()
}

/// `\s` of Oniguruma in Unicode mode: the White_Space property, which is Rust's `is_whitespace`.
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Python's `str.isprintable` for one character.
pub fn is_printable(c: char) -> bool {
    c == ' ' || !unprintable().contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_letter('a') && is_letter('é') && is_letter('把') && is_letter('ſ'));
        assert!(!is_letter('1') && !is_letter('🎨') && !is_letter('\u{301}') && !is_letter('Ⅻ'));
        assert!(is_number('7') && is_number('Ⅻ') && is_number('½') && !is_number('a'));
        assert!(is_space('\u{3000}') && is_space('\u{85}') && !is_space('\u{200b}'));
        assert!(is_printable('é') && is_printable('🎨') && is_printable(' ') && is_printable('，'));
        assert!(!is_printable('\u{a0}') && !is_printable('\u{200b}') && !is_printable('\u{7f}') && !is_printable('\u{e000}'));
        assert!(!is_printable('\u{2028}') && !is_printable('\u{3000}'));
    }
}
