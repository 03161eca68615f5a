"""The safety layer's one decision: confirmed, suspected, caution, or nothing.

Three sources are weighed, in this order:

1. **The rules** (nlp/red_flags.py, vocabulary in content/red_flags.yml). A red-flag rule that
   fires is *confirmed*: the category's emergency answer. A caution rule gives the *caution* tier:
   safety advice without the emergency number.
2. **The learned net** (nlp/safety_net.py), for wordings the rules do not know. A red-flag score
   above the threshold is *suspected*: the assistant first asks "Is this happening to you now?".
   Suicide, self-harm and overdose are never only suspected: a lower score for them is enough to
   give the crisis answer at once (*confirmed*, source `net`).
3. **The intent classifier.** When DIET alone says `emergency` (neither rules nor net agree), the
   message is *suspected*, never answered with the emergency script straight away.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, FrozenSet, Mapping, Optional

from nlp.red_flags import RedFlag
from nlp.safety_net import strongest

CONFIRMED, SUSPECTED, CAUTION = "confirmed", "suspected", "caution"
TIERS = (CONFIRMED, SUSPECTED, CAUTION)
RULES, NET, CLASSIFIER = "rules", "net", "classifier"
EMERGENCY_INTENT = "emergency"


@dataclass(frozen=True)
class Policy:
    """Which categories are emergencies, cautions and crises, and the net's thresholds."""

    emergencies: FrozenSet[str]
    cautions: FrozenSet[str]
    crises: FrozenSet[str]
    suspect_threshold: float
    crisis_threshold: float


@dataclass(frozen=True)
class Decision:
    tier: str  # one of TIERS
    category: Optional[str]  # None: the classifier alone, with no category the net could name
    source: str  # RULES, NET or CLASSIFIER
    score: float = 1.0  # the net's probability for a net decision
    rule: str = ""
    evidence: str = ""
    start: int = 0  # character offsets of the rules' evidence
    end: int = 0
    # the net's scores, for staff: the red-flag category it found most likely, and how likely
    net: Dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        if self.source != RULES:
            for key in ("rule", "evidence", "start", "end"):
                data.pop(key)
        return data


def decide(flag: Optional[RedFlag], probabilities: Mapping[str, float], intent: Optional[str],
           policy: Policy) -> Optional[Decision]:
    """The safety decision for one message, or None when it is not a safety matter."""
    category, score = strongest(probabilities, policy.emergencies)
    crisis, crisis_score = strongest(probabilities, policy.crises)
    net = {"category": category, "score": round(score, 4)} if probabilities else {}
    if flag is not None:
        tier = CAUTION if flag.category in policy.cautions else CONFIRMED
        return Decision(tier, flag.category, RULES, 1.0, flag.rule, flag.text, flag.start, flag.end, net)
    if crisis and crisis_score >= policy.crisis_threshold:
        return Decision(CONFIRMED, crisis, NET, round(crisis_score, 4), net=net)
    if category and score >= policy.suspect_threshold:
        return Decision(SUSPECTED, category, NET, round(score, 4), net=net)
    if intent == EMERGENCY_INTENT:
        # the net does not agree, so it names no category: "yes" gets the general emergency answer
        return Decision(SUSPECTED, None, CLASSIFIER, round(score, 4), net=net)
    return None
