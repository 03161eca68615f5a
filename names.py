"""Names that several parts of the project share: defined once here and imported everywhere.

They are in trained models, in the trackers stored and in domain.yml, so their values never
change. Only the standard library: the action server, the NLU components, the review app, the
scripts and the tests all import it.
"""

from __future__ import annotations

# Intents and actions.
FALLBACK_INTENT = "nlu_fallback"  # Rasa's FallbackClassifier (rasa.shared.constants)
FALLBACK_ACTION = "action_fallback"

# Keys that the NLU pipeline (nlp/components.py) adds to a message's parse data.
SAFETY_KEY = "safety"  # RedFlagClassifier's decision: tier, category, source (nlp/safety.py)
INPUT_GUARD_KEY = "input_guard"  # why a message goes to the fallback: "empty", "long", "unknown"

# Entity labels (domain.yml). An exercise or symptom entity's label is also the kind of the
# content topic it names, and a common question's (faq) the kind of its card.
EXERCISE = "exercise"
SYMPTOM = "symptom"
FACET = "facet"  # the facet a message asks about (content/facets.yml)
FAQ = "faq"  # also the retrieval intent and its response selector's key
RED_FLAG = "red_flag"  # set by RedFlagClassifier: the red-flag category

# Slots (domain.yml).
TOPIC_SLOT = "topic"  # the topic of the last answer, for follow-up questions
ANSWERED_SLOT = "answered"  # what the last content answer was about ("aquatic/how_much")
SAFETY_CHECK_SLOT = "safety_check"  # the safety check waits for its answer
SAFETY_ANSWER_SLOT = "safety_answer"  # the user's answer to the safety check
