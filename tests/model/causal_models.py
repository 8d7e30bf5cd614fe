"""Tiny causal LMs built from a config (random weights) with a tokenizer trained here: nothing downloaded."""

from pathlib import Path

TEXT = " ".join(
    f"line {i}: the {w} model reads {v} tokens and predicts the next one with {u} layers."
    for i, (w, v, u) in enumerate(zip(["small", "tiny", "large", "odd", "quiet", "busy"] * 40,
                                      ["many", "few", "some", "all", "most", "ten"] * 40,
                                      ["two", "three", "four", "five", "six", "seven"] * 40)))
VOCAB = 200


def tokenizer(folder: Path):
    """A byte-level BPE tokenizer of VOCAB tokens trained on TEXT, saved into ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([TEXT], trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<unk>", "<s>", "</s>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(str(folder))
    return fast


def build(folder: Path, arch: str = "llama", with_tokenizer: bool = True, tie: bool = True, hidden: int = 32,
          intermediate: int = 48):
    """A 2-layer causal LM (``llama``: grouped-query attention, 4 query and 2 key/value heads; ``gpt2``: Conv1D
    layers) with random weights, saved to ``folder``; ``hidden`` and ``intermediate`` (llama) set its widths (a
    wide one spends its decode time in its linears, as a real LM does)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    vocab = max(VOCAB, 300)  # the byte-level alphabet alone is 256 tokens
    if arch == "llama":
        config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                             tie_word_embeddings=tie)
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=256, bos_token_id=1, eos_token_id=2,
                            tie_word_embeddings=tie)
        model = GPT2LMHeadModel(config)
    with torch.no_grad():  # larger weights than the init's, so that factoring them changes the logits visibly
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed" not in name and "wte" not in name and "wpe" not in name:
                p.normal_(0, 0.2)
    model.eval().save_pretrained(str(folder))
    if with_tokenizer:
        tokenizer(folder)
    return model
