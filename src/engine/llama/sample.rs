//! Token sampling: the sampler chain a request's parameters make, and sampling held to a grammar (llama.cpp's way: check the chain's pick, resample among what the grammar allows only when it refuses).

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use crate::engine::SamplingParams;

pub(super) fn build_sampler(model: &LlamaModel, p: &SamplingParams) -> LlamaSampler {
    let mut chain = Vec::new();
    if p.repeat_penalty != 1.0 || p.frequency_penalty != 0.0 || p.presence_penalty != 0.0 {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            64,
            p.repeat_penalty,
            p.frequency_penalty,
            p.presence_penalty,
        ));
    }
    if p.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if p.top_k > 0 {
            chain.push(LlamaSampler::top_k(p.top_k));
        }
        chain.push(LlamaSampler::top_p(p.top_p, 1));
        chain.push(LlamaSampler::min_p(p.min_p, 1));
        chain.push(LlamaSampler::temp(p.temperature));
        let seed = p.seed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u128() as u32);
        chain.push(LlamaSampler::dist(seed));
    }
    LlamaSampler::chain_simple(chain)
}

/// Samples with a grammar the way llama.cpp's own server does: the chain picks a token from all
/// candidates; if the grammar refuses it, the chain picks again among what the grammar allows. (The
/// check is one token, so an unconstrained stretch of a lazy grammar costs nothing.) `None` when the
/// grammar allows nothing at all. The chain has accepted the token; the grammar has not.
pub(super) fn constrained(
    ctx: &LlamaContext<'_>,
    idx: i32,
    chain: &mut LlamaSampler,
    grammar: &mut LlamaSampler,
    buffer: &mut Vec<LlamaTokenData>,
) -> Option<LlamaToken> {
    let mut cur = candidates(ctx, idx, buffer);
    chain.apply(&mut cur);
    let mut token = cur.selected_token();
    if let Some(t) = token {
        let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(t, 1.0, 0.0)], false);
        grammar.apply(&mut one);
        if one.data[0].logit() == f32::NEG_INFINITY {
            token = None;
        }
    }
    if token.is_none() {
        *buffer = std::mem::take(&mut cur.data);
        let mut all = candidates(ctx, idx, buffer);
        grammar.apply(&mut all);
        if all.data.iter().all(|d| d.logit() == f32::NEG_INFINITY) {
            *buffer = all.data;
            return None;
        }
        chain.apply(&mut all);
        token = all.selected_token();
        cur = all;
    }
    *buffer = cur.data;
    let token = token?;
    chain.accept(token);
    Some(token)
}

/// The logits at batch index `idx` as sampler candidates, in a reused buffer.
fn candidates(ctx: &LlamaContext<'_>, idx: i32, buffer: &mut Vec<LlamaTokenData>) -> LlamaTokenDataArray {
    let logits = ctx.get_logits_ith(idx);
    let mut data = std::mem::take(buffer);
    data.clear();
    data.extend(logits.iter().enumerate().map(|(i, &logit)| LlamaTokenData::new(LlamaToken(i as i32), logit, 0.0)));
    LlamaTokenDataArray::new(data, false)
}

#[cfg(test)]
mod tests;
