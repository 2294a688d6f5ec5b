"""Tiny random models and a tokenizer trained with `tokenizers`, built offline for tests."""

from __future__ import annotations

from pathlib import Path

# single tokens the PRM kinds need: verifier labels, Math-Shepherd labels, the step tag
LABEL_TOKENS = ["Yes", "No", "+", "-", "<extra_0>"]


def build_tokenizer(directory: Path, corpus: list[str], vocab_size: int = 600):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>", "<pad>", *LABEL_TOKENS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(directory)
    return fast


def build_tiny_llama(directory: Path, corpus: list[str], head: str = "causal", num_labels: int = 1,
                     tie_word_embeddings: bool = False) -> Path:
    """head: causal (LlamaForCausalLM), classifier (LlamaForSequenceClassification) or
    token (LlamaForTokenClassification, a step-tag PRM's shape). With tied embeddings a causal
    LM's checkpoint holds no `lm_head.weight` (the head is the embedding matrix)."""
    import torch
    from transformers import (
        LlamaConfig,
        LlamaForCausalLM,
        LlamaForSequenceClassification,
        LlamaForTokenClassification,
    )

    fast = build_tokenizer(directory, corpus)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=tie_word_embeddings,
                         num_labels=num_labels)
    cls = {"causal": LlamaForCausalLM, "classifier": LlamaForSequenceClassification,
           "token": LlamaForTokenClassification}[head]
    cls(config).save_pretrained(directory)
    return directory


def build_tiny_qwen2_prm(directory: Path, corpus: list[str]) -> Path:
    """A Qwen2ForProcessRewardModel (Qwen2.5-Math-PRM's architecture) with random weights:
    transformers has no class for it, so the backbone comes from Qwen2Model and the score head
    (Linear, ReLU, Linear to two labels) is written under vLLM's weight names."""
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen2Config, Qwen2Model

    fast = build_tokenizer(directory, corpus)
    config = Qwen2Config(vocab_size=len(fast), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8192,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, num_labels=2,
                         architectures=["Qwen2ForProcessRewardModel"], torch_dtype="float32")
    config.save_pretrained(directory)
    torch.manual_seed(0)
    weights = {f"model.{k}": v.contiguous() for k, v in Qwen2Model(config).state_dict().items()}
    hidden = config.hidden_size
    weights.update({"score.0.weight": torch.randn(hidden, hidden) * 0.2, "score.0.bias": torch.zeros(hidden),
                    "score.2.weight": torch.randn(2, hidden) * 0.2, "score.2.bias": torch.zeros(2)})
    save_file(weights, str(directory / "model.safetensors"))
    return directory
