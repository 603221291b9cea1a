//! Code-completion prompts: the raw FIM text for local models, and each family's message layout (§3.3).

use super::budget::fit;
use super::{Built, CompletionInput, Family, Message, PromptPlan, TokenCount};

/// Temperature for [`fim_raw`]: FIM models do best close to greedy.
pub const FIM_RAW_TEMPERATURE: f32 = 0.1;
/// Output cap for [`fim_raw`]; callers subtract it from the slot context to get the prompt budget.
pub const FIM_RAW_MAX_TOKENS: u32 = 128;

/// Mistral-style FIM markers (Codestral, Mistral, Mixtral).
const MISTRAL_STOPS: &[&str] = &["[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"];
const CODEGEMMA_STOPS: &[&str] = &["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>"];
const CODELLAMA_STOPS: &[&str] = &["<PRE>", "<SUF>", "<MID>", "<EOT>"];
/// Qwen2.5-Coder's FIM, repository and chat markers.
const QWEN_STOPS: &[&str] = &[
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<|im_start|>",
    "<|im_end|>",
];
/// The gateway's stop set for `qwen2p5-coder-7b`: the markers, and a blank line.
const QWEN25_CODER_7B_STOPS: &[&str] = &[
    "<|fim_prefix|>",
    "<|fim_suffix|>",
    "<|fim_middle|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<|im_start|>",
    "<|im_end|>",
    "\n\n",
];
/// The gateway's stop set for `codestral-2501` and `codestral-2508`.
const CODESTRAL_25_STOPS: &[&str] = &["\n\n", "\n+++++", "[PREFIX]", "</s>[SUFFIX]", "[MIDDLE]"];

/// Stop strings a named completion model adds to a raw FIM prompt on a local model (GitLab's
/// gateway stops these models on them); none for the families.
pub fn fim_stops(family: Family) -> &'static [&'static str] {
    match family {
        Family::Codestral2501 | Family::Codestral2508 => CODESTRAL_25_STOPS,
        Family::Qwen25Coder7b => QWEN25_CODER_7B_STOPS,
        _ => &[],
    }
}

/// The raw FIM text for a LOCAL model whose GGUF has FIM tokens (given as their text):
/// prefix-suffix-middle order, no chat template. The tokens of the three markers are subtracted
/// from `budget_tokens` first; the rest is split 7 % suffix / 93 % prefix, and context snippets
/// take what the code leaves (prepended to the prefix with a newline). Stops on the markers.
pub fn fim_raw(
    fim_prefix: &str,
    fim_suffix: &str,
    fim_middle: &str,
    input: &CompletionInput,
    budget_tokens: usize,
    tokens: &dyn TokenCount,
) -> PromptPlan {
    let fixed = tokens.count(&format!("{fim_prefix}{fim_suffix}{fim_middle}"));
    let fitted = fit(input.prefix, input.suffix, input.context, budget_tokens.saturating_sub(fixed), tokens);
    let text = format!("{fim_prefix}{}{fim_suffix}{}{fim_middle}", fitted.prefix, fitted.suffix);
    let mut stop: Vec<String> = Vec::new();
    for marker in [fim_prefix, fim_suffix, fim_middle] {
        if !marker.is_empty() && !stop.iter().any(|s| s == marker) {
            stop.push(marker.to_string());
        }
    }
    PromptPlan {
        prompt: Built::Raw(text),
        stop,
        temperature: FIM_RAW_TEMPERATURE,
        max_tokens: FIM_RAW_MAX_TOKENS,
        context_tokens_used: fitted.context_tokens_used,
        context_tokens_sent: fitted.context_tokens_sent,
    }
}

/// The family's completion prompt as chat messages (§3.3 layouts, FIM markers inside the user
/// message). The tokens of the fixed template text are subtracted from `budget_tokens` before the
/// 7 % / 93 % split, then context snippets take what is left, as in [`fim_raw`].
pub fn completion(
    family: Family,
    input: &CompletionInput,
    budget_tokens: usize,
    tokens: &dyn TokenCount,
) -> PromptPlan {
    let empty = render(family, input, "", "");
    let fixed: usize = empty.iter().map(|m| tokens.count(&m.content)).sum();
    let fitted = fit(input.prefix, input.suffix, input.context, budget_tokens.saturating_sub(fixed), tokens);
    let (stop, temperature, max_tokens) = params(family);
    PromptPlan {
        prompt: Built::Chat(render(family, input, &fitted.prefix, &fitted.suffix)),
        stop: stop.iter().map(|s| s.to_string()).collect(),
        temperature,
        max_tokens,
        context_tokens_used: fitted.context_tokens_used,
        context_tokens_sent: fitted.context_tokens_sent,
    }
}

/// Stop sequences, temperature and max_tokens per family (§3.3).
fn params(family: Family) -> (&'static [&'static str], f32, u32) {
    match family {
        Family::Codestral => (MISTRAL_STOPS, 0.32, 64),
        Family::Mistral | Family::Mixtral => (MISTRAL_STOPS, 0.0, 64),
        Family::Codegemma => (CODEGEMMA_STOPS, 0.95, 128),
        Family::Codellama => (CODELLAMA_STOPS, 0.95, 128),
        Family::Deepseekcoder => (&[], 0.0, 128),
        Family::Llama3 => (&[], 0.0, 64),
        // GitLab sets nothing and the provider default applies; OpenAI-compatible servers use 1.0.
        Family::Gpt => (&[], 1.0, 64),
        Family::Claude3 | Family::General => (&[], 0.0, 128),
        Family::Gemini => (&[], 1.0, 128),
        Family::Qwen => (QWEN_STOPS, 0.0, 48),
        Family::Qwen25Coder7b => (QWEN25_CODER_7B_STOPS, 0.95, 48),
        Family::Codestral2501 | Family::Codestral2508 => (CODESTRAL_25_STOPS, 0.7, 48),
    }
}

fn render(family: Family, input: &CompletionInput, prefix: &str, suffix: &str) -> Vec<Message> {
    let (lang, file) = (input.language, input.file_name);
    let mistral_fim = format!("<s>[SUFFIX]{suffix}[PREFIX]{prefix}");
    match family.base() {
        Family::Codestral => vec![
            Message::system(format!(
                "You are a fill-in-the-middle assistant for {lang} code. The user message gives the code after \
                 the cursor (after [SUFFIX]) and the code before it (after [PREFIX]). Reply with only the code \
                 that belongs at the cursor: no explanations, no markdown. If you are not sure what belongs \
                 there, reply with nothing."
            )),
            Message::user(mistral_fim),
        ],
        Family::Mistral | Family::Mixtral => vec![
            Message::system(format!(
                "You are a code completion engine. The file being edited is `{file}`, written in {lang}. The \
                 user message holds the code after the cursor, marked [SUFFIX], followed by the code before the \
                 cursor, marked [PREFIX]. Write the code that goes between the two. Output plain code only, \
                 with no markdown fences and no commentary, and do not repeat anything that already comes \
                 before or after the cursor."
            )),
            Message::user(mistral_fim),
        ],
        Family::Codegemma => vec![Message::user(format!("<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"))],
        Family::Codellama => vec![Message::user(format!("<PRE> {prefix} <SUF> {suffix} <MID>"))],
        Family::Deepseekcoder => {
            vec![Message::user(format!(
                "<\u{ff5c}fim\u{2581}begin\u{ff5c}>{prefix}<\u{ff5c}fim\u{2581}hole\u{ff5c}>{suffix}<\u{ff5c}fim\u{2581}end\u{ff5c}>"
            ))]
        }
        Family::Llama3 => vec![
            Message::system(format!(
                "You are a code completion engine for {lang}. You answer with source code and nothing else."
            )),
            Message::user(format!(
                "Complete the code in the file `{file}`. Here is the code completion CONTEXT, with |CODE| \
                 marking the cursor:\n\n{prefix}|CODE|{suffix}\n\nWrite only the code that should replace \
                 |CODE|. Do not explain it, do not wrap it in markdown, and do not repeat code that is already \
                 above or below |CODE|."
            )),
        ],
        Family::Gpt => vec![
            Message::system(
                "You are a fill-in-the-middle code engine. The user sends the code before the cursor after \
                 <|prefix|> and the code after the cursor after <|suffix|>. Answer with exactly the code that \
                 belongs at the cursor. Never output the markers themselves, markdown or explanations.",
            ),
            Message::user(format!("------\nLanguage: {lang}\n\n<|prefix|>{prefix}<|suffix|>{suffix}")),
        ],
        Family::Qwen => vec![
            Message::system(format!(
                "You complete {lang} code in the middle of a file. The user message holds the code before the \
                 cursor after <|fim_prefix|> and the code after it after <|fim_suffix|>; the cursor is at \
                 <|fim_middle|>. Reply with only the code that goes there, without markdown or explanations. \
                 If nothing fits, reply with nothing."
            )),
            Message::user(format!("<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>")),
        ],
        Family::Claude3 | Family::General | Family::Gemini => vec![
            Message::system(
                "You are a precise code completion assistant. You insert code at the cursor and answer with \
                 nothing but that code.",
            ),
            Message::user(format!(
                "Complete the code at the cursor, which sits between <prefix> and <suffix>.\n\n\
                 <language>{lang}</language>\n<file_name>{file}</file_name>\n\
                 <prefix>{prefix}</prefix>\n<suffix>{suffix}</suffix>\n\n\
                 Rules:\n\
                 - Study the code on both sides of the cursor and work out what is missing between them.\n\
                 - Answer with the code to insert only: no comments about it, no markdown, no XML tags.\n\
                 - Match the indentation and style of the surrounding code.\n\
                 - If the insertion would only repeat code that is already there, or you cannot tell what is \
                 missing, answer with an empty response."
            )),
        ],
        Family::Codestral2501 | Family::Codestral2508 | Family::Qwen25Coder7b => unreachable!("base() maps it"),
    }
}

#[cfg(test)]
mod tests;
