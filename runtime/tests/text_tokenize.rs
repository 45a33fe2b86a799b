//! Tokenization against HF `tokenizers` (the fixture was made with it from the same
//! tokenizer.json): every committed prompt in both prompt formats, truncation and left padding
//! included, from tokenizer.json and from the GGUF vocabulary; and the route prompts.

mod text_fixtures;
use text_fixtures::*;
use x2edit_runtime::text::{self, PromptFormat, Tokenizer};

fn prompts() -> Vec<serde_json::Value> {
    let p = fixtures().join("tokenize/prompts.json");
    serde_json::from_str::<Vec<serde_json::Value>>(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn check_tokenizer(tok: &Tokenizer) {
    let exp = Fixture::open("tokenize/expected.safetensors");
    let prompts = prompts();
    for (fmt, key) in [(PromptFormat::X2Edit, "x2edit"), (PromptFormat::Raw, "raw")] {
        let ids = exp.u32(&format!("{key}.input_ids"));
        let mask = exp.u32(&format!("{key}.attention_mask"));
        for (i, p) in prompts.iter().enumerate() {
            let prompt = p["prompt"].as_str().unwrap();
            // the rendered chat text is part of the fixture: check it first
            let chat = text::render_chat(&text::user_text(prompt, fmt));
            assert_eq!(chat, p[format!("chat_{key}")].as_str().unwrap(), "chat text of prompt {i} ({key})");
            let untruncated = tok.encode(&chat).len();
            assert_eq!(untruncated as i64, p["untruncated_length"][key].as_i64().unwrap(), "length of prompt {i} ({key})");
            let e = text::encode_instruction(tok, prompt, fmt).unwrap();
            let row = i * 512..(i + 1) * 512;
            assert_eq!(e.ids, ids[row.clone()], "{}: ids of prompt {i} ({key}): {prompt:?}", tok.source());
            assert_eq!(e.mask, mask[row], "mask of prompt {i} ({key})");
        }
    }
}

#[test]
fn tokenize_fixture_from_tokenizer_json() {
    check_tokenizer(&Tokenizer::open(&text_encoder()).unwrap());
}

#[test]
fn tokenize_fixture_from_gguf_vocab() {
    let tok = Tokenizer::open(&qwen_gguf()).unwrap();
    assert_eq!(tok.len(), 656);
    check_tokenizer(&tok);
}

#[test]
fn text_fixture_ids_and_positions() {
    let tok = Tokenizer::open(&text_encoder()).unwrap();
    let inp = Fixture::open("text/inputs.safetensors");
    let e = text::encode_instruction(&tok, "Change the color of the car to red.", PromptFormat::X2Edit).unwrap();
    assert_eq!(e.ids, inp.u32("input_ids"));
    assert_eq!(e.mask, inp.u32("attention_mask"));
    let pos: Vec<f32> = Fixture::open("text/expected.safetensors").i64("debug.position_ids").into_iter().map(|p| p as f32).collect();
    assert_eq!(e.positions(), pos);
}

#[test]
fn route_prompts_tokenize_like_the_reference() {
    let inp = Fixture::open("route/inputs.safetensors");
    let listing: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(fixtures().join("route/prompts.json")).unwrap()).unwrap();
    for tok in [Tokenizer::open(&text_encoder()).unwrap(), Tokenizer::open(&qwen_gguf()).unwrap()] {
        for (i, r) in listing.iter().enumerate() {
            let instruction = r["instruction"].as_str().unwrap();
            assert_eq!(text::render_chat(&text::route_prompt(instruction)), r["chat"].as_str().unwrap(), "route chat {i}");
            let e = text::route_inputs(&tok, instruction);
            assert_eq!(e.ids, inp.u32(&format!("input_ids.{i}")), "route ids {i} from {}", tok.source());
            assert_eq!(e.mask, inp.u32(&format!("attention_mask.{i}")));
        }
    }
}

#[test]
fn decode_round_trips() {
    let tok = Tokenizer::open(&text_encoder()).unwrap();
    for p in prompts() {
        let chat = text::render_chat(&text::user_text(p["prompt"].as_str().unwrap(), PromptFormat::Raw));
        let ids = tok.encode(&chat);
        // NFC is the only change encoding makes
        let nfc: String = unicode_nfc(&chat);
        assert_eq!(tok.decode(&ids, false), nfc);
    }
    assert_eq!(tok.decode(&tok.encode("<|im_start|>hi<|im_end|>"), true), "hi");
}

fn unicode_nfc(s: &str) -> String {
    // Composes the one decomposed pair the fixture prompts use (e + U+0301).
    s.replace("e\u{301}", "é")
}

#[test]
fn bad_tokenizer_files_are_errors() {
    let good = std::fs::read_to_string(text_encoder().join("tokenizer.json")).unwrap();
    let other_regex = good.replace("\\\\s+(?!\\\\S)", "\\\\s+");
    assert_ne!(other_regex, good);
    let e = Tokenizer::from_json(&other_regex, "edited.json").err().expect("a different regex is refused");
    assert!(e.to_string().contains("edited.json"), "{e}");
    assert!(Tokenizer::from_json("{}", "empty.json").is_err());
    assert!(Tokenizer::open(&fixtures().join("models/adapter")).is_err());
}
