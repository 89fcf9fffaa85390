"""Build a tiny random-weight Llama GGUF, offline, for testing the in-process runtime (hearth/llm/llamacpp.py).

Real GGUF models are gigabytes and come from a hub this project's machines cannot reach, so the tests make
their own: a `transformers.LlamaForCausalLM` with a hand-written config and a fixed seed, written as GGUF with
the `gguf` package, with a small SentencePiece-style ("llama") vocabulary of byte-fallback tokens plus the
printable ASCII characters, and a ChatML chat template (with tool support) embedded so that llama-cpp-python
formats chats through the model's own Jinja template, as it does for real models.

    python scripts/make_tiny_gguf.py [OUT.gguf]      # default: tiny-llama.gguf in the current folder

Its answers are nonsense, but it loads, tokenizes, renders chats and streams tokens like any Llama GGUF,
and it computes exactly what the transformers model computes (tests/llm/test_llamacpp.py checks the logits).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SEED = 20241204
HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2  # grouped-query attention, as most current models have
FFN = 128
CONTEXT = 16384  # room for the assistant's prompt with all its tools (the vocabulary is bytes: 1 char ~ 1 token)
RMS_EPS = 1e-5

# Token ids: the special tokens first, then the 256 byte-fallback tokens, then the printable characters.
UNK, BOS, IM_START, IM_END = 0, 1, 2, 3
SPECIALS = ["<unk>", "<s>", "<|im_start|>", "<|im_end|>"]
EOS = IM_END  # a ChatML model ends its turn with <|im_end|>
SPACE = "\u2581"  # SentencePiece's visible space
CHARS = [SPACE] + [chr(c) for c in range(0x21, 0x7F)]

# ChatML, the format of Qwen, Hermes and many others. Tools go into the system turn and calls are written as
# <tool_call>{"name": ..., "arguments": ...}</tool_call>, the Hermes convention.
CHAT_TEMPLATE = """\
{%- set system = messages[0].content if messages and messages[0].role == 'system' else '' -%}
{%- if system or tools -%}
<|im_start|>system
{{ system }}
{%- if tools %}

You may call these tools, each call as <tool_call>{"name": ..., "arguments": {...}}</tool_call>:
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}
{%- endif %}<|im_end|>
{% endif -%}
{%- for message in messages if message.role != 'system' -%}
<|im_start|>{{ message.role }}
{% if message.content %}{{ message.content }}{% endif %}
{%- for call in message.tool_calls or [] %}
<tool_call>{"name": {{ call.function.name | tojson }}, "arguments": {{ call.function.arguments }}}</tool_call>
{%- endfor %}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif -%}
"""


def tiny_vocab() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of a byte-fallback SPM vocabulary: every text tokenizes, with the
    fewest pieces llama.cpp accepts (it needs the <0x0A> byte token for its newline id, for one)."""
    from gguf import TokenType

    tokens = list(SPECIALS)
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    tokens += CHARS
    types += [TokenType.NORMAL] * len(CHARS)
    scores = [0.0] * (len(SPECIALS) + 256) + [-float(i) for i in range(len(CHARS))]
    return tokens, scores, [int(t) for t in types]


def tiny_llama_model():  # -> transformers.LlamaForCausalLM (not imported at module level: it is slow)
    """The random-weight model, the same for the same SEED (built on the CPU, no hub involved)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tiny_vocab()[0]), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
        rms_norm_eps=RMS_EPS, bos_token_id=BOS, eos_token_id=EOS,
        tie_word_embeddings=False, initializer_range=0.1,  # wider than the default 0.02: less uniform logits
    )
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # random norm gains too, so that a wrong tensor mapping cannot go unnoticed
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.1 * torch.randn_like(param))
    return model.eval()


def _rope_theta(config) -> float:
    """The rotary base: `rope_parameters` in transformers 5, `rope_theta` before (10000 by default in both)."""
    params = getattr(config, "rope_parameters", None) or {}
    return float(params.get("rope_theta") or getattr(config, "rope_theta", None) or 10000.0)


def _rope_interleave(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """HF stores each q/k head's rotary pairs as two halves; ggml's Llama rope pairs neighbouring rows."""
    out_dim, in_dim = weight.shape
    half = out_dim // n_heads // 2
    return weight.reshape(n_heads, 2, half, in_dim).swapaxes(1, 2).reshape(out_dim, in_dim)


def make_tiny_gguf(out_path: Path, model=None) -> Path:
    """Write the tiny model (or `model`, a LlamaForCausalLM with this vocabulary) as an f32 GGUF at `out_path`."""
    import gguf

    model = model if model is not None else tiny_llama_model()
    config = model.config
    tokens, scores, types = tiny_vocab()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    writer = gguf.GGUFWriter(out_path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_name("hearth-tiny-llama")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(config.vocab_size)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(UNK)
    writer.add_bos_token_id(BOS)
    writer.add_eos_token_id(EOS)
    writer.add_add_bos_token(False)  # ChatML models put everything they need in the template
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        name = names.get_name(hf_name, try_suffixes=(".weight",))  # keeps the suffix: blk.0.attn_q.weight
        if name is None:
            raise ValueError(f"no GGUF name for the transformers tensor {hf_name}")
        data = tensor.detach().to("cpu").float().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = _rope_interleave(data, config.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _rope_interleave(data, config.num_key_value_heads)
        writer.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tiny-llama.gguf")
    print(make_tiny_gguf(target))
