//! Qwen2's pre-tokenizer, written out by hand because its regex needs a look-ahead:
//!
//! ```text
//! (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! Split with behaviour "isolated" (HF `tokenizers`, Oniguruma semantics): at each position the
//! first alternative that matches wins, with backtracking inside it. Every character matches some
//! alternative, so the pieces tile the text.

use super::unicode::{is_letter, is_number, is_space};

/// The pieces of `text`, in order; their concatenation is `text`.
pub fn split(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let n = match_at(&chars, i);
        let start = chars[i].0;
        let end = chars.get(i + n).map_or(text.len(), |c| c.0);
        out.push(&text[start..end]);
        i += n;
    }
    out
}

fn is_crlf(c: char) -> bool {
    c == '\r' || c == '\n'
}

/// Length in characters of the match at `i` (at least 1).
fn match_at(s: &[(usize, char)], i: usize) -> usize {
    let at = |k: usize| s.get(k).map(|c| c.1);
    // 1. contractions, case-insensitive ('ſ' folds to 's' under Unicode case folding)
    if at(i) == Some('\'') {
        let lower = |k: usize| at(k).map(|c| if c == 'ſ' { 's' } else { c.to_ascii_lowercase() });
        match (lower(i + 1), lower(i + 2)) {
            (Some('s' | 't' | 'm' | 'd'), _) => return 2,
            (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => return 3,
            _ => {}
        }
    }
    let letters_from = |k: usize| (k..s.len()).take_while(|&j| is_letter(s[j].1)).count();
    // 2. [^\r\n\p{L}\p{N}]? \p{L}+
    let c = s[i].1;
    if !is_crlf(c) && !is_letter(c) && !is_number(c) {
        let n = letters_from(i + 1);
        if n > 0 {
            return 1 + n;
        }
    }
    let n = letters_from(i);
    if n > 0 {
        return n;
    }
    // 3. \p{N}
    if is_number(c) {
        return 1;
    }
    // 4. ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    let other = |c: char| !is_space(c) && !is_letter(c) && !is_number(c);
    let start = if c == ' ' && at(i + 1).is_some_and(other) { i + 1 } else { i };
    let run = (start..s.len()).take_while(|&j| other(s[j].1)).count();
    if run > 0 {
        let end = start + run;
        let nl = (end..s.len()).take_while(|&j| is_crlf(s[j].1)).count();
        return end + nl - i;
    }
    // The character is whitespace from here on. Its maximal run is s[i..end].
    let end = i + (i..s.len()).take_while(|&j| is_space(s[j].1)).count();
    // 5. \s*[\r\n]+ : backtracks to the last CR/LF of the run
    if let Some(last) = (i..end).rev().find(|&j| is_crlf(s[j].1)) {
        return last + 1 - i;
    }
    // 6. \s+(?!\S): the whole run at the end of the text, else all but its last character
    if end == s.len() || end - i > 1 {
        return if end == s.len() { end - i } else { end - 1 - i };
    }
    // 7. \s+
    end - i
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn qwen2_pieces() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello world", &["Hello", " world"]),
            ("Don't DO'S it'll", &["Don", "'t", " DO", "'S", " it", "'ll"]),
            ("a  b", &["a", " ", " b"]),
            ("x 100%", &["x", " ", "1", "0", "0", "%"]),
            ("end.\n\nNext", &["end", ".\n\n", "Next"]),
            ("a \n  b", &["a", " \n", " ", " b"]),
            ("trailing  ", &["trailing", "  "]),
            ("\tab", &["\tab"]),
            ("把背景换成雪山。", &["把背景换成雪山", "。"]),
            ("🎨 ok ☕ 🎉🎉", &["🎨", " ok", " ☕", " 🎉🎉"]),
            ("f/1.8", &["f", "/", "1", ".", "8"]),
            ("'x", &["'x"]),
            ("", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(&split(text), want, "{text:?}");
        }
    }
}
