"""The learned safety net: which safety category a message is closest to, from its sentence embedding.

A multinomial logistic regression (scikit-learn) trained on a large, varied corpus: red-flag and
caution messages by category (data/safety/red_flags.yml) and messages that are not an emergency
(data/safety/benign.yml, plus the NLU training examples). It is not a list of phrases: its main
input is the message's sentence embedding, so it generalises to wordings nobody wrote, because
similar meanings have similar embeddings. Embeddings read "no chest pain" much like "chest pain",
so its other input is which of the rules' concepts context cancelled (negation, past,
hypothetical ...). Concepts the rules found live are not an input: the rules fire on nearly
every red flag of the corpus, so a net that saw them learnt to follow the rules and caught 15 of
the 42 red flags of a development set that the rules missed; without them it caught 33
(bench/README.md). Deciding what to do with its scores is the job of the pipeline's last
component (nlp.components.RedFlagClassifier); this module only trains and scores.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np
import yaml

BENIGN = "benign"


@dataclass(frozen=True)
class Corpus:
    texts: Tuple[str, ...]
    labels: Tuple[str, ...]

    def __add__(self, other: "Corpus") -> "Corpus":
        return Corpus(self.texts + other.texts, self.labels + other.labels)


def read_corpus(directory: Path) -> Corpus:
    """The corpus files: `red_flags:` and `caution:` map categories to messages, `benign:` maps
    groups of benign messages. A message is a text, or a mapping with `text` (and `context`)."""
    texts: List[str] = []
    labels: List[str] = []
    for path in sorted(Path(directory).glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for section, groups in data.items():
            if not isinstance(groups, dict):
                raise ValueError(f"{path}: {section}: must map categories to lists of messages")
            for group, messages in groups.items():
                label = BENIGN if section == BENIGN else group
                for message in messages or []:
                    texts.append(message if isinstance(message, str) else message["text"])
                    labels.append(label)
    return Corpus(tuple(texts), tuple(labels))


class SafetyNet:
    """P(category | message) over the corpus's categories and `benign`."""

    def __init__(self, classes: Sequence[str], weights: np.ndarray, bias: np.ndarray,
                 concepts: Sequence[str]) -> None:
        self.classes = tuple(classes)
        self.concepts = tuple(concepts)
        self._index = {label: i for i, label in enumerate(self.concepts)}
        self._weights = np.asarray(weights, dtype=np.float32)
        self._bias = np.asarray(bias, dtype=np.float32)

    def features(self, embedding: np.ndarray, cancelled: Iterable[str]) -> np.ndarray:
        """The embedding, then one column per concept, 1 where context cancelled it."""
        concepts = np.zeros(len(self.concepts), dtype=np.float32)
        for label in cancelled:
            if label in self._index:
                concepts[self._index[label]] = 1.0
        return np.concatenate([np.asarray(embedding, dtype=np.float32).ravel(), concepts])

    @classmethod
    def train(cls, features: np.ndarray, labels: Sequence[str], concepts: Sequence[str],
              regularisation: float = 32.0, seed: int = 42) -> "SafetyNet":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=regularisation, max_iter=4000, random_state=seed)
        model.fit(features, list(labels))
        return cls(list(model.classes_), model.coef_, model.intercept_, concepts)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """One row of class probabilities per row of features (columns in the order of `classes`)."""
        logits = np.atleast_2d(features) @ self._weights.T + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def probabilities(self, embedding: np.ndarray, cancelled: Iterable[str] = ()) -> Dict[str, float]:
        return dict(zip(self.classes, self.scores(self.features(embedding, cancelled))[0].tolist()))

    def to_json(self) -> Dict[str, Any]:
        return {"classes": list(self.classes), "concepts": list(self.concepts),
                "weights": self._weights.tolist(), "bias": self._bias.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SafetyNet":
        return cls(data["classes"], np.array(data["weights"]), np.array(data["bias"]), data["concepts"])


def strongest(probabilities: Mapping[str, float], categories: Iterable[str]) -> Tuple[str, float]:
    """The most probable of these categories, and the probability that it is any of them."""
    categories = [c for c in categories if c in probabilities]
    if not categories:
        return "", 0.0
    best = max(categories, key=lambda c: probabilities[c])
    return best, float(sum(probabilities[c] for c in categories))
