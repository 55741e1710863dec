"""A tiny GPT-2 built from scratch in seconds (no hub): for tests and smoke runs of the pipeline.

>>> import tempfile
>>> p = build_tiny_lm(tempfile.mkdtemp())
>>> (p / "config.json").exists()
True
"""

from __future__ import annotations

from pathlib import Path

_TEXT = """The quick brown fox jumps over the lazy dog. A summary is a short version of a longer text.
Paris is the capital of France. Water boils at one hundred degrees. Translate the sentence into French.
Write a short story about a robot. The answer is yes. The answer is no. I do not know.
User: What is the capital of France? Assistant: Paris. Request: Name a colour. Answer: Blue.
Please write three sentences about the sea. The sea is large. The sea is blue. The sea is deep.
"""

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def build_tiny_lm(out_dir: str | Path, chat_template: bool = False, seed: int = 0) -> Path:
    """Train a byte-level BPE on a few KB, make a 2-layer GPT-2 with random weights, save both.

    With ``chat_template`` the tokenizer gets a (toy) chat template, so chat framing uses it.
    """
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([_TEXT] * 20, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>", pad_token="<|endoftext|>", padding_side="left")
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=512, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out
