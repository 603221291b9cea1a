//! Code-generation prompts: system + user messages per family (§3.4), with the instruction, the code around the cursor and the enhancer extras fitted to a budget.

use super::budget::fit;
use super::extras::Extras;
use super::{Built, Family, GenerationInput, Message, PromptPlan, TokenCount};

/// The instruction when the request carries none: the comment above the cursor says what to write.
pub const DEFAULT_INSTRUCTION: &str = "Treat the comment just above the cursor as the instruction and write the code it \
     asks for. If there is no such comment, continue the code where the cursor is in the most sensible way.";

/// Marks the insertion point inside the existing code shown to the model.
const CURSOR: &str = "{{cursor}}";

/// Stop sequence of the base (Claude / general) prompt, which tells the model to give up with it.
const UNABLE: &str = "UNABLE_TO_GENERATE";

/// How a family's prompt is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Codestral,
    Mistral,
    Generic,
    Deepseek,
    Qwen,
    Base,
}

impl Style {
    fn of(family: Family) -> Style {
        match family.base() {
            Family::Codestral => Style::Codestral,
            Family::Mistral | Family::Mixtral => Style::Mistral,
            Family::Codegemma | Family::Codellama | Family::Llama3 | Family::Gpt => Style::Generic,
            Family::Deepseekcoder => Style::Deepseek,
            Family::Qwen => Style::Qwen,
            Family::Claude3 | Family::General | Family::Gemini => Style::Base,
            Family::Codestral2501 | Family::Codestral2508 | Family::Qwen25Coder7b => unreachable!("base() maps it"),
        }
    }

    /// Whether the layout has sections for libraries, examples and related code (§3.4).
    fn uses_extras(self) -> bool {
        matches!(self, Style::Codestral | Style::Mistral | Style::Qwen | Style::Base)
    }
}

/// Temperature, max_tokens and stop sequences per family (§3.4).
fn params(family: Family) -> (f32, u32, &'static [&'static str]) {
    match family.base() {
        Family::Codestral => (0.3, 256, &[]),
        Family::Mistral => (0.95, 256, &[]),
        Family::Mixtral => (0.0, 4096, &[]),
        Family::Codegemma => (0.95, 512, &[]),
        Family::Codellama => (0.95, 256, &[]),
        Family::Llama3 => (0.0, 256, &[]),
        Family::Gpt => (1.0, 512, &[]),
        Family::Deepseekcoder => (0.95, 512, &[]),
        Family::Claude3 | Family::General | Family::Gemini | Family::Qwen => (0.2, 2048, &[UNABLE]),
        Family::Codestral2501 | Family::Codestral2508 | Family::Qwen25Coder7b => unreachable!("base() maps it"),
    }
}

/// The family's code-generation chat prompt (§3.4: system + user; instruction default when none:
/// [`DEFAULT_INSTRUCTION`]), params per family from §3.4.
///
/// Budget: the fixed template text is counted first; the instruction may take up to a quarter of
/// what remains (kept from its start); the code around the cursor is guaranteed two thirds of the
/// rest (7 % suffix / 93 % prefix), the extras get what the code does not need, and the code then
/// takes whatever the extras left. `context_tokens_*` count the extras.
pub fn generation(
    family: Family,
    input: &GenerationInput,
    budget_tokens: usize,
    tokens: &dyn TokenCount,
) -> PromptPlan {
    let style = Style::of(family);
    let instruction = input.instruction.map(str::trim).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_INSTRUCTION);
    let all_extras = Extras::from_json(input.enhancer);
    let context_tokens_sent = all_extras.tokens(tokens);
    let none = Extras::default();

    let fixed: usize = render(style, input, "", "", "", &none).iter().map(|m| tokens.count(&m.content)).sum();
    let available = budget_tokens.saturating_sub(fixed);
    let instruction = super::budget::keep_start(instruction, available / 4, tokens);
    let rest = available.saturating_sub(tokens.count(instruction));

    let code_need = tokens.count(input.prefix) + tokens.count(input.suffix);
    let code_reserved = code_need.min(rest - rest / 3);
    let (extras, extras_used) =
        if style.uses_extras() { all_extras.fit(rest - code_reserved, tokens) } else { (none, 0) };
    let code = fit(input.prefix, input.suffix, &[], rest - extras_used, tokens);

    let (temperature, max_tokens, stop) = params(family);
    PromptPlan {
        prompt: Built::Chat(render(style, input, instruction, &code.prefix, &code.suffix, &extras)),
        stop: stop.iter().map(|s| s.to_string()).collect(),
        temperature,
        max_tokens,
        context_tokens_used: extras_used,
        context_tokens_sent,
    }
}

fn render(
    style: Style,
    input: &GenerationInput,
    instruction: &str,
    prefix: &str,
    suffix: &str,
    extras: &Extras,
) -> Vec<Message> {
    let (lang, file) = (input.language, input.file_name);
    let extras = extras.render();
    let self_hosted_user = format!(
        "## Existing code:\n{prefix}{CURSOR}{suffix}\n\n## Instruction:\n{instruction}\n\n\
         Do not repeat the existing code. Reply with code only."
    );
    let generic_system = format!(
        "You are a coding assistant that writes {lang} code in the file `{file}`.\n\n\
         ## Instructions\n\
         - {CURSOR} in the existing code marks where the new code goes.\n\
         - Follow the user's instruction; without one, implement what the comment just above {CURSOR} asks for.\n\
         - Return only the new code to insert at {CURSOR}, as plain code without markdown or explanations.\n\
         - If it is unclear what to write, return nothing."
    );
    match style {
        Style::Codestral => vec![
            Message::system(format!(
                "You are a careful code generation agent. You write {lang} code for the file `{file}`.\n\n\
                 {extras}Answer with raw {lang} code only. Do not use markdown fences, do not explain, and do not \
                 add comments that describe your answer. If you cannot tell what to write, answer with nothing."
            )),
            Message::user(format!(
                "Existing code, with {CURSOR} where the new code goes:\n{prefix}{CURSOR}{suffix}\n\n\
                 Instruction: {instruction}\n\n\
                 Rules that always apply:\n\
                 1. Write only the new code that belongs at {CURSOR}.\n\
                 2. Do not repeat code that is already in the file.\n\
                 3. Keep to the indentation and style of the existing code.\n\
                 4. Output code only, with no prose and no markdown."
            )),
        ],
        Style::Mistral => vec![
            Message::system(format!(
                "You are an autocomplete agent for {lang} code in the file `{file}`. The user shows you the \
                 existing code, with {CURSOR} at the insertion point, and an instruction. When the instruction \
                 does not say otherwise, the comment just before {CURSOR} describes what to write.\n\n\
                 {extras}Return only the new code to insert at {CURSOR}, as plain code without markdown."
            )),
            Message::user(self_hosted_user),
        ],
        Style::Generic => vec![Message::system(generic_system), Message::user(self_hosted_user)],
        Style::Deepseek => vec![
            Message::system(format!(
                "You are DeepSeek Coder, a programming assistant who answers with working code.\n\n{generic_system}"
            )),
            Message::user(format!("{self_hosted_user}\n### Response:\n")),
        ],
        Style::Qwen => vec![
            Message::system(format!(
                "You write {lang} code for the file `{file}`, to be inserted where {CURSOR} stands in the code the \
                 user shows you.\n\n\
                 {extras}Answer with the code to insert and nothing else: no markdown fences, no explanation, no \
                 reasoning. Match the surrounding indentation and naming, and do not repeat code that is already \
                 before or after {CURSOR}. If the request cannot be done, answer exactly {UNABLE}."
            )),
            Message::user(format!(
                "{instruction}\n\nThe file so far, with {CURSOR} where your code goes:\n{prefix}{CURSOR}{suffix}"
            )),
        ],
        Style::Base => vec![
            Message::system(format!(
                "You are an expert programmer who writes {lang} code for the file `{file}`. Your code compiles, \
                 follows the conventions of the code around it and does exactly what is asked.\n\n\
                 {extras}The existing code follows; {CURSOR} marks where your code will be inserted.\n\
                 <existing_code>\n{prefix}{CURSOR}{suffix}\n</existing_code>\n\n\
                 How to answer:\n\
                 - Reply with the new code only, ready to insert at {CURSOR}, without markdown fences or explanations.\n\
                 - Do not repeat code that already exists before or after {CURSOR}.\n\
                 - When the request points at the comment above {CURSOR}, implement that comment.\n\
                 - If you cannot write the requested code, reply with exactly {UNABLE}."
            )),
            Message::user(instruction),
        ],
    }
}

#[cfg(test)]
mod tests;
