//! Stops an embeddings decode of a generation model at its token vectors. llama.cpp computes the
//! vocabulary logits of every token an embeddings context decodes, and embeddings never read them;
//! on a small model with a large vocabulary (Gemma 3 270M: 640 wide, 262,144 tokens) that output
//! layer costs more than all the layers before it. ggml's evaluation callback (a context parameter
//! llama-cpp-2 does not expose) sees each node of the graph as it is computed; answering `false`
//! for the token vectors (the final norm's output, which llama.cpp's pooling step names
//! `result_embd_pooled` when it pools nothing) ends the computation there. The embeddings thread checks at start that the shortcut gives the same
//! vectors as a full decode and turns it off otherwise ([`Cut::set`]).

use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_sys_2::{ggml_tensor, llama_context_params};

/// The name llama.cpp gives the pooled output; with pooling `none` (the embeddings context of a
/// generation model) that is the token vectors themselves (`t_embd`, the final norm's output).
const TOKEN_VECTORS: &[u8] = b"result_embd_pooled";

// `LlamaContextParams` (llama-cpp-2, pinned in Cargo.toml) has one field, the C struct; with equal
// sizes that field is the whole wrapper, at offset 0.
const _: () = assert!(size_of::<LlamaContextParams>() == size_of::<llama_context_params>());

/// Whether decodes stop at the token vectors. Owned by the embeddings thread, outliving its context.
pub(super) struct Cut {
    on: AtomicBool,
}

impl Cut {
    pub fn new() -> Cut {
        Cut { on: AtomicBool::new(false) }
    }

    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// `params` with the evaluation callback installed, reading `self` (which must outlive every
    /// context made from the result). Unchanged if the wrapper does not hold the C struct as expected.
    pub fn install(&self, mut params: LlamaContextParams) -> LlamaContextParams {
        let (n_ctx, n_batch, n_ubatch) = (params.n_ctx().map_or(0, |n| n.get()), params.n_batch(), params.n_ubatch());
        // SAFETY: the wrapper is exactly its one field (sizes checked at compile time above), so the
        // pointer is to a live, initialized `llama_context_params` borrowed mutably for this block.
        let raw = unsafe { &mut *(&raw mut params).cast::<llama_context_params>() };
        if (raw.n_ctx, raw.n_batch, raw.n_ubatch) != (n_ctx, n_batch, n_ubatch) {
            tracing::warn!("llama-cpp-2's context parameters are laid out unexpectedly: logits stay on");
            return params;
        }
        raw.cb_eval = Some(on_node);
        raw.cb_eval_user_data = std::ptr::from_ref(self).cast_mut().cast::<c_void>();
        params
    }
}

/// ggml's evaluation callback: with `ask`, "do you want this node's value?" (yes for the token
/// vectors while the cut is on); then, given that node's value, "go on?" (no).
unsafe extern "C" fn on_node(t: *mut ggml_tensor, ask: bool, user: *mut c_void) -> bool {
    // SAFETY: `user` is the `Cut` passed to `install`, which outlives the context calling us.
    let cut = unsafe { &*user.cast::<Cut>() };
    if !cut.is_on() || t.is_null() {
        return !ask;
    }
    // SAFETY: ggml passes a live tensor whose `name` is a NUL-terminated array of 64 chars.
    let name = unsafe { CStr::from_ptr((*t).name.as_ptr()) };
    let vectors = name.to_bytes() == TOKEN_VECTORS;
    if ask { vectors } else { !vectors }
}
