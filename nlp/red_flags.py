"""Deterministic red-flag detector: finds messages that describe an emergency.

The detector reads a spaCy ``Doc`` of the lower-cased message (made by the project's pipeline:
tokenizer and lookup lemmatizer) and works in four steps.

1. **Concepts.** One spaCy ``Matcher`` tags spans with concept labels (``CHEST``, ``FAINT``,
   ``FACE_DROOP``, ``LASTING`` ...), context cues (``NEGATION``, ``HYPOTHETICAL``, ``PAST`` ...)
   and masks (``EXERCISE_TERM``, ``FIGURATIVE``). The vocabulary is in the tables below, written
   in a small phrase notation (described above ``MACROS``) that ``compile_phrase`` turns into
   token patterns on LOWER and LEMMA with optional tokens.
2. **Overlaps.** A mask removes every concept it overlaps that is not longer than the mask
   ("chest press" is an exercise, "fell in love" an idiom). A cue inside a longer concept is part
   of that concept, not a cue ("can't see", "never had this before"). ``OVERRIDES`` lists
   concepts that replace another concept they overlap ("hot and cold sweats" is fever, not heat).
3. **Context.** The message is cut into clauses (at . ! ? ; and before "but", "although" ...) and
   clauses into segments (also at commas). A negation cue cancels a concept that starts at most
   ``NEGATION_WINDOW`` tokens after it in its segment, unless "and", "so" ... come between. A
   context cue (hypothetical, general question, report, past, resolved, chronic, habitual,
   history) cancels every concept in its segment; a resolution after "but" also cancels the
   clause before it. Suicide and self-harm are never cancelled: when in doubt, flag.
4. **Rules.** ``RULES`` is an ordered list of small named rules. A rule needs one live concept
   from each of its label sets, either in one clause (optionally within a token window) or
   anywhere in the message. The first rule that fires gives the category, so the order is the
   priority: suicide, overheating (before fainting), chest, fall (before stroke), stroke, vision,
   infection (before relapse), relapse.

The result is a ``RedFlag``: the category and the character offsets and text of the evidence.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

CATEGORIES = ("chest", "stroke", "vision", "suicide", "fall", "relapse", "infection", "overheating")

NEGATION_WORDS = ("no", "not", "n't", "nt", "never", "without", "none", "nor", "nothing", "nobody",
                  "neither", "nope", "noone", "nah")
# Words that start a new clause: what follows "but" is a new statement.
CLAUSE_WORDS = ("but", "although", "though", "however", "whereas")
# Words that end a negation's reach: "no fever and my legs are weak" negates only the fever.
NEGATION_STOPS = frozenset(("and", "so", "because", "cos", "then", "which", "who", "while", "when")
                           + CLAUSE_WORDS)
CLAUSE_PUNCTUATION = frozenset(".!?;…")
SEGMENT_PUNCTUATION = frozenset(",:()\"")
NEGATION_WINDOW = 4  # a negation reaches concepts that start at most this many tokens after it

# ------------------------------------------------------------------------------------------------
# Phrase notation. A phrase is tokens separated by spaces:
#   word|word       the token's lower-case text is one of these (a /regex/ may be one of them)
#   ~lemma|lemma    the token's lemma is one of these
#   !word|word      any token but these
#   _               an optional filler: one word that is not punctuation, a negation or "but"
#   X?              the token X is optional
#   $NAME           replaced by MACROS[NAME] first
# The lookup lemmatizer has no part-of-speech tags, so lemmas are used only where its table is
# right ("fell" -> "fall", "fainted" -> "faint"); "worse" -> "wrong" and "dying" -> "dye" are not.
# ------------------------------------------------------------------------------------------------

FILLER = {"OP": "?", "IS_PUNCT": False, "LOWER": {"NOT_IN": list(NEGATION_WORDS + CLAUSE_WORDS)}}

BODY_PARTS = ("arm", "arms", "leg", "legs", "hand", "hands", "foot", "feet", "face", "side", "body",
              "fingers", "toes", "thumb", "mouth", "lip", "lips", "tongue")
BONES = ("wrist", "hip", "leg", "arm", "ankle", "bone", "bones", "collarbone", "shoulder", "knee",
         "elbow", "foot", "neck", "back", "rib", "ribs")
PILLS = ("pills", "tablets", "meds", "medication", "medicine", "painkillers", "paracetamol")
# Feelings that make "passed out" or "heart racing" a figure of speech.
EMOTIONS = ("boredom", "laughing", "laughter", "excitement", "nerves", "anticipation", "joy",
            "happiness", "embarrassment")
# Diagnoses that, had in the simple past, are medical history.
DIAGNOSES = ("uti", "utis", "infection", "stroke", "tia", "relapse", "heatstroke", "seizure")

MACROS: Dict[str, str] = {
    "CANT": "ca|can|could n't|nt|not",  # the tokenizer splits "can't" into "ca" + "n't"
    "NOT": "n't|nt|not",
    "HAVE": "'ve|ve|have|has|'s|s",
    "SELF": "myself|himself|herself|themselves|yourself|meself",
    "BODY": "|".join(BODY_PARTS),
    "BONE": "|".join(BONES),
    "PILLS": "|".join(PILLS),
    "EMOTION": "|".join(EMOTIONS),
    "DIAGNOSIS": "|".join(DIAGNOSES),
    # the regexes keep common misspellings ("numbnes", "tingly", "dizzyness")
    "DEFICIT": "/^(numb|weak|tingl|floppy|paraly|clumsy|useless)/|limp|dead|heavy",
    "NUMBER": "/^\\d+$/|a|one|two|three|four|five|six|seven|eight|nine|ten|few|several|couple",
}

# ------------------------------------------------------------------------------------------------
# Concepts (label -> phrases), by the category whose rules mainly use them.
# ------------------------------------------------------------------------------------------------

CHEST_CONCEPTS = {
    "CHEST": ["chest|chst|chesst|sternum|breastbone"],
    "CHEST_FEELING": [
        "~pain|ache|hurt|squeeze|crush|stab",
        "painful|achy|tight|tightness|tighter|heavy|heaviness|pressure|squeezing|band|elephant",
        "someone|something sitting",
    ],
    "CANT_BREATHE": [
        "$CANT breathe|breath", "ca|can barely|hardly breathe", "~struggle|fight to breathe",
        "~struggle|fight for _ breath|air|breaths", "~gasp", "$CANT catch|get _ _ breath|air",
        "difficulty|trouble breathing",
    ],
    "CYANOSIS": ["lips|lip _ _ _ blue|purple|grey|gray", "turned|turning|gone|going|went blue"],
    "BREATHLESS": ["breathless|breathlessness", "out|short|shortness of breath"],
    "CANT_SPEAK": ["$CANT even? talk|speak", "$CANT finish _ sentence|sentences"],
    "FAINT": [
        "~faint", "~pass out", "~black out", "blackout|blackouts|unconscious|unresponsive",
        "lost consciousness", "$NOT responding", "everything|world went|go|going black|dark",
        "just come|came round", "~keel over",
    ],
    "COLLAPSE": ["~collapse"],
    "PALPITATIONS": [
        "~palpitation", "palps", "skipping|skipped|missing|missed|dropped|extra beats",
        "irregular|racing|erratic heartbeat|pulse",
        "heart|heartbeat|pulse _ _ _ racing|pounding|thumping|fluttering|hammering|banging|skipping|jumping"
        "|galloping|irregular|irregularly|erratic|crazy|wild",
    ],
    "HEART": ["heart|heartbeat|heartbeats|pulse"],
    "HEART_ATTACK": ["having a|another heart attack", "it|this is|'s|s a heart attack"],
}

STROKE_CONCEPTS = {
    "FACE_DROOP": [
        "face|mouth|smile|lip|lips|eyelid _ _ _ /^droop/|lopsided|sagging|saggy|crooked|dropped|uneven|slanted",
        "/^droop/|lopsided|crooked|saggy face|mouth|smile",
        "$CANT smile _ properly|normally|straight|evenly|right",
        "face|mouth|smile _ _ _ on|down one side", "dribbling|drooling out? of|from one side",
    ],
    "SPEECH": [
        "/^slur/",
        "speech|speach|words|voice _ _ _ jumbled|garbled|muddled|off|funny|strange|weird|wrong|nonsense|gibberish",
        "$CANT get _ words out", "$CANT find _ words", "wrong words|word|ones _ come|coming|came out",
        "talking|talks|speaking|talk nonsense|gibberish|rubbish|funny|strangely|weird|oddly",
        "mixing|mixed|muddling up? _ words", "$CANT understand what _ _ saying|said",
        "$CANT answer _ _ questions",
        "not making sense", "making no sense", "$CANT speak|talk properly|clearly|normally",
        "trouble|difficulty speaking|talking",
    ],
    "LIMB_DEFICIT": [
        "$BODY _ _ _ $DEFICIT", "$DEFICIT in|on|down|of|up _ _ _ $BODY", "$BODY _ _ dropped",
        "$CANT feel|move|lift|raise|use _ _ $BODY",
    ],
    "HEADACHE": ["headache|headaches|migraine"],
    "SEVERITY": [
        "worst|excruciating|agonising|agonizing|unbearable|explosive|blinding|thunderclap",
        "like _ bang|explosion|thunderclap|hammer|gunshot",
    ],
    "CONFUSION": [
        "confused|confusion|/^muddl/|disoriented|disorientated|delirious|befuddled|incoherent",
        "$NOT know where|who _ am|is|are|'m|m|was|were", "$NOT recognise|recognize",
        "$NOT know what day|time|year|month", "$NOT know how _ got",
        "$CANT /^remem/ _ _ _ address|name|names|how|where|who|birthday", "$CANT think straight|clearly",
        "head|mind|brain _ _ foggy|fuzzy|muddled|scrambled", "looks|look|looked|staring blank|blankly|vacant",
    ],
    "STROKE_EVENT": [
        "having a|another stroke|tia", "having a|another mini -? stroke", "is this|it a stroke",
        "it|this 's|s|is a stroke",
    ],
}

VISION_CONCEPTS = {
    "VISION_LOSS": [
        "$CANT see _ out|anything|properly|well|clearly|straight|/^prop+e?r/", "~lose _ _ sight|vision",
        "eye|eyes|vision|sight _ _ _ dark|black|grey|gray|dim|blank|blacked|darkened",
        "went|gone|going|turned black|dark|grey|gray|blank in _ _ eye|eyes|vision",
        "curtain|veil|shadow|shade _ _ _ _ vision|eye|eyes|sight",
        "sight|vision _ _ _ _ vanished|disappeared|completely|totally", "sight|vision _ _ _ _ has|'s|s|is gone",
        "eye|eyes _ vanished|disappeared", "blindness", "blind in", "go|gone|going|went blind",
    ],
    "BLUR": [
        "blurry|blurred|blurrier|blurring|blur|fuzzy|misty|hazy|cloudy|dim|dimmer", "washed out",
        "colours|colors|colour|color _ _ _ dull|faded|washed|grey|muted",
    ],
    "DOUBLE_VISION": [
        "double vision", "see|seeing|seein|sees double", "two|2 of everything|things", "diplopia",
        "words|letters|things|everything|lines _ _ doubled|double|doubling",
    ],
    "EYE_PAIN": [
        "eye|eyes _ _ _ ~hurt|pain|ache|throb|painful|sore", "~hurt|pain|ache|painful _ _ _ _ eye|eyes",
    ],
}

FALL_CONCEPTS = {
    "FALL": [
        "~fall|trip|slip|tumble", "took|take|had _ tumble", "went|go|gone down hard",
        "~hit the floor|ground|deck",
        "legs|leg|knees|knee _ gave|give|giving way|out", "legs|leg|knees|knee _ ~collapse|buckle",
    ],
    "ON_FLOOR": ["on|from|off the|my _ floor|ground"],
    "CANT_GET_UP": [
        "$CANT get _ _ up|out|off", "unable to get|stand _ up", "$NOT able to get|stand _ up",
        "$CANT stand|walk|move", "ca|can barely|hardly stand|walk", "legs|leg _ $NOT work|working",
        "stuck|lying|laying|still on|in the|my _ floor|ground|bath|bathroom|toilet",
    ],
    "HEAD_INJURY": [
        "~hit|bang|bump|crack|knock|smack|bash|whack _ _ head", "head _ ~hit|bang|smack|crack", "~hurt _ head",
        "head injury|wound|bleeding|cut", "~knock _ out|unconscious", "concussion|concussed",
    ],
    "BLEEDING": ["blood|bleeding|~bleed"],
    "FRACTURE": [
        "bone|bones _ _ sticking|poking|showing", "~break|fracture|snap _ _ $BONE",
        "$BONE _ _ broken|fractured|snapped",
        "it|it's|'s|s|is|looks|feels broken|fractured", "heard|felt a? crack|snap|crunch",
        "funny|odd|strange|weird|wrong|awkward angle",
        "looks|look|looked|is|'s|s _ bent|deformed|crooked|shorter",
        "swollen|swelling", "is|'s|s|gone|looks huge|massive|enormous", "$CANT put|bear _ _ weight",
    ],
    "INJURY_PAIN": [
        "neck|hip|back|spine|head _ _ _ ~hurt|pain|agony", "~hurt|pain so|too much|bad|badly",
        "agony|excruciating|unbearable",
    ],
}

RELAPSE_CONCEPTS = {
    "SYMPTOM": [
        "/^numb/|/^tingl/|/^weak/|/^dizz/", "pins and needles", "electric shock|shocks", "new symptom|symptoms",
        "clumsy|spinning|vertigo|unsteady|wobbly|tremor|tremors|spasms|spasm|jelly", "like jelly|lead",
        "dragging|drag|drags _ _ foot|leg", "foot|leg|feet|legs _ _ dragging|drags", "dropping|droping things",
        "giving|gave|give way", "legs|leg|knees|knee _ ~collapse|buckle", "$CANT feel _ _ $BODY",
    ],
    "WORSE": [
        "worse|worsening|worsened|deteriorating|deteriorated", "gone|going|went downhill",
        "flared|flaring|flare up?",
        "than usual|normal|ever|before", "more confused|unsteady|wobbly|numb",
        "much|way|far|lot|even|getting|got weaker|heavier",
        "got|gotten|getting|gone|been|become _ bad|awful|terrible|dreadful|horrendous",
    ],
    # a day or more: "for 3 days", "since Monday", "48 hours"
    "LASTING": [
        "$NUMBER of? days|weeks|week", "for days|weeks", "since the|last weekend|week",
        "/^(2[4-9]|[3-9]\\d)$/ hours|hrs|hr|h", "/^(2[4-9]|[3-9]\\d)(h|hrs?|hours)$/",
        "since|started|began|from /^(?!to)\\w*day$/",
    ],
    "SUDDEN": [
        "/^sudden/", "out of nowhere", "out of the blue", "all at once", "without warning", "just now",
        "came|come|comes|coming on while|during|when|after|at|so|really|very|quickly|fast",
        "$NUMBER _ minutes|mins|min|seconds|secs|moments ago", "a|an|one hour|minute ago",
        "started|began in|during|while|mid",
    ],
    # started today: "since this morning", "woke up with"
    "RECENT": [
        "since|from this|last? morning|afternoon|evening|night|lunch|lunchtime|breakfast|dinner",
        "since i woke|waking", "woke|waking up with", "started|began this|last? morning|afternoon|evening",
        "since my|the walk|class|session|workout|swim|run",
    ],
    "NEW": ["new|brand-new", "never had|felt|done|experienced|seen|happened _ before", "first time"],
    "PERSISTING": [
        "$NOT go|going|gone away", "$NOT get|getting better", "$NOT slow|slowing|calm|calming down",
        "$NOT settling|settled|settle|easing|ease|improving|improve|stopping|stop|going",
        "still there|going|bad",
    ],
    "RELAPSE_EVENT": [
        "having a|another relapse|flare", "is this|it a relapse", "in a relapse", "i 'm|m|am relapsing",
        "he|she|they 's|s|is|are relapsing", "think _ _ _ relapsing",
    ],
}

INFECTION_CONCEPTS = {
    "FEVER": [
        "fever|fevers|feverish|fevery|chills|rigors", "~shiver", "hot and cold", "cold|night sweats",
        "burning up",
        "a|high|raised _ temp|temperature|temprature|temperture", "temp|temperature of /^(3[7-9]|4[0-2])/",
    ],
    "INFECTION": [
        "infection|infections|infected|uti|utis|cystitis|flu|pus|oozing|cough|coughing", "sore throat",
        "~burn|sting _ when|while|on _ pee|peeing|wee|weeing|urinating|urinate",
        "pee|wee|urine _ _ smell|smells|smelly|cloudy|burns|stings", "catheter _ _ _ red|sore|swollen|oozing",
    ],
}

OVERHEATING_CONCEPTS = {
    "HEAT": [
        "hot|heat|heatwave|/^overheat/|sauna|saunas|sun|boiling|roasting|sweltering|heatstroke|sunstroke",
        "steam room", "hot tub", "heat stroke|exhaustion",
    ],
    "STOPPED_SWEATING": ["$HAVE|had? stopped sweating", "$NOT sweating"],
}

SUICIDE_CONCEPTS = {
    "SUICIDAL": [
        # suicide named, or a wish to die
        "suicide|suicidal|suicidally", "~kill $SELF", "~hang $SELF", "overdose|overdosing", "~want|wish to die",
        "wanna die", "~want to be dead", "wish _ _ dead", "rather be dead", "rather not be here|alive",
        "better off dead", "~end|take my|his|her|their own? life|lives", "~end it all|now|tonight",
        "~want to end it", "should|just|gonna|might end it", "of|about ending it", "~give up on life|living",
        "never wake|waking up", "$NOT want to wake up", "$NOT want to live|exist|continue",
        "$NOT want to be here|alive", "disappear|sleep forever", "disappear for good|ever",
        # being a burden, no reason to live
        "better off without me", "better off if i", "if i was|were|'m|m|am gone|dead",
        "if i was|were|'m|m|am|did $NOT here|around|alive|exist", "$NOT _ _ be around|here _ _ long|longer",
        "a|such burden to|on", "'m|m|am|feel|being|be _ burden", "~want it|everything all? to stop|end",
        "no|any reason|point to|in keep? live|living|go|carry", "no point anymore|any",
        "what 's|s|is the point anymore|any", "what 's|s|is the point of|in living|life|anything|trying",
        "$CANT do|take this|it anymore|any", "$CANT go on anymore|like", "$CANT cope anymore|any",
        "$NOT think i can go|carry on",
        # a plan or preparations
        "ways|way|how to die", "tonight is the night", "how _ _ _ going to do it", "decided to do|end it",
        "goodbye letter|letters|note|notes", "~write|written _ _ letters|letter|note|notes to",
        "$PILLS saved|stockpiled|stashed|hoarded",
        "saving|saved|stockpiling|stockpiled|stockpile|hoarding _ _ $PILLS",
        "take|taking|swallow|swallowing all _ _ $PILLS", "in front of _ train|bus|lorry",
        "drive|driving|drove|crash|crashing _ _ into _ wall|tree|lorry|truck|river|bridge|traffic",
        "jump|jumping|jumped off|from _ _ bridge|building|cliff|roof",
    ],
    "SELF_HARM": [
        "self -? harm|harming|harmed|injury|injuring|hurt|hurting", "selfharm", "~cut|harm $SELF",
        "been|keep|started hurting|harming|cutting|burning $SELF", "cutting again", "started|start cutting",
        "cuts|cut|scars|burns on _ arms|arm|wrists|wrist|legs|thighs",
        "~hurt|harm|cut|burn|hit|punch|scratch|starve _ _ on purpose",
        "~hurt|harm|cut|burn|hit|punch|scratch|starve _ _ deliberately|intentionally",
    ],
}

CONCEPT_TABLES = (CHEST_CONCEPTS, STROKE_CONCEPTS, VISION_CONCEPTS, FALL_CONCEPTS, RELAPSE_CONCEPTS,
                  INFECTION_CONCEPTS, OVERHEATING_CONCEPTS, SUICIDE_CONCEPTS)
CONCEPT_LABELS = frozenset(label for table in CONCEPT_TABLES for label in table)
# Never cancelled by negation or context: "I don't want to wake up tomorrow" must always trigger.
UNCANCELLABLE = frozenset(SUICIDE_CONCEPTS)

# A concept that overlaps another one replaces it.
OVERRIDES: Dict[str, FrozenSet[str]] = {
    "VISION_LOSS": frozenset({"FAINT"}),  # "everything went black in my right eye"
    "FEVER": frozenset({"HEAT"}),  # "hot and cold sweats"
    "INFECTION": frozenset({"CHEST"}),  # "chest infection"
    "SYMPTOM": frozenset({"COLLAPSE"}),  # "my legs just collapse under me"
}

# ------------------------------------------------------------------------------------------------
# Cues and masks.
# ------------------------------------------------------------------------------------------------

NEGATION = "NEGATION"
NEGATION_CUES = {NEGATION: ["|".join(NEGATION_WORDS), "free of"]}

CONTEXT_CUES = {
    # "what should I do if I fall", "in case I collapse one day", "my mum worries I'll fall"
    "HYPOTHETICAL": [
        "if|unless", "in case", "one day", "worry|worried|worries|afraid|scared _ _ 'll|will|might",
        "prevent|prevents|prevention|preventing|avoid|avoiding",
    ],
    # questions about the condition in general: "the signs of a stroke", "can heat cause a relapse?"
    "GENERAL": [
        "the|warning sign|signs|symptoms of", "a symptom|sign of", "warning signs", "risk|risks",
        "can|could|does|do|will _ _ cause|make|trigger", "caused by", "is _ _ ever", "more|less|how likely",
        "how common", "tell _ apart", "difference between", "what 's|s|is a|an", "what are the", "when should",
        "how long does",
    ],
    # something read, watched or heard about
    "REPORTED": [
        "read|reading|heard about", "talked|talks|spoke|learned|learnt about",
        "mentioned|mentions|explained|explains",
        "article|documentary|podcast|novel|film|movie|leaflet|poster|tv|news|webinar|lecture",
    ],
    # long enough ago to be over: "last year", "two years ago", "in 2019", "used to"
    "PAST": [
        "$NUMBER? years|months|year|month ago|back|earlier", "in|since /^(19|20)\\d\\d$/",
        "last year|month|summer|winter|spring|autumn|christmas|easter|time",
        "in january|february|march|april|may|june|july|august|september|october|november|december",
        "as a teenager|teen|child|kid|student", "when i was younger|little|pregnant|a", "used to",
        "the other year", "in the past", "previously",
    ],
    # over, and the person is well: "I'm fine now", "all cleared up"
    "RESOLVED": [
        "fine|ok|okay|alright|better|normal|stable|good now", "all fine|better|good|clear|cleared|gone",
        "'m|m|am|'re|re|are|'s|s|is fine|ok|okay|alright", "been fine|ok|okay|stable|good|well",
        "fine|ok|okay|better since|after|once", "clear|cleared up", "cleared|recovered|healed|resolved",
        "back to normal", "mostly|completely gone", "went away", "settles|settled|passes",
        "goes|went when|once|after", "well again",
    ],
    # long-standing, not new: "same as always", "for years"
    "CHRONIC": [
        "same as always|usual|ever", "as always|usual", "like always", "my usual", "for years",
        "always have|had|do", "since _ diagnosis|diagnosed", "all my life",
    ],
    # a usual reaction to a usual trigger: "my speech gets slurred when I'm very tired"
    "HABITUAL": [
        "when|whenever i 'm|m|am|get|feel? _ tired|hot|warm|cold|fatigued|stressed|nervous|anxious|exhausted",
    ],
    # a diagnosis in the simple past is history ("my cousin had a UTI"), unlike "I've had a UTI"
    "HISTORY": [
        "!$HAVE had a|an? $DIAGNOSIS", "!$HAVE had a|an? _ infection", "!$HAVE had a|an? heart attack",
        "!$HAVE had optic neuritis",
    ],
}
CUE_LABELS = frozenset(NEGATION_CUES) | frozenset(CONTEXT_CUES)
# A resolution after "but" also covers the clause before: "weak for days but now they're fine".
LOOKS_BACK = frozenset({"RESOLVED"})

MASKS = {
    # exercise names that contain red-flag words
    "EXERCISE_TERM": [
        "chest press|presses|fly|flies|flyes|stretch|stretches|stretching|opener|openers|exercise|exercises"
        "|workout|day|muscles|muscle",
        "chest -? opening|opener", "heart rate|rates|monitor|zone|zones", "near -? fall|falls",
        "~fall prevention|risk|risks|alarm|alarms|pendant|clinic|class|classes|assessment|mat|mats",
    ],
    # figures of speech that contain red-flag words
    "FIGURATIVE": [
        "~fall in love", "~fall asleep|through|flat|behind|apart|short", "~lose sight of",
        "~pass out from|with $EMOTION", "~collapse with|in|into? $EMOTION|giggles|hysterics",
        "racing|pounding|thumping|fluttering with|from $EMOTION",
        "confused about|by|as|why|how|which|what|whether|with", "$CANT stand this|that|it|the|him|her|them",
        "motivation|count|plans|confidence|mood|routine|fitness|business|numbers|attendance _ ~collapse",
    ],
}

# ------------------------------------------------------------------------------------------------
# Rules, in priority order.
# ------------------------------------------------------------------------------------------------

CLAUSE, MESSAGE = "clause", "message"


@dataclass(frozen=True)
class Rule:
    """Fires when every label set in `needs` has a live concept: all in one clause (and within
    `window` tokens, if given) or anywhere in the message; never when a label in `unless` is live."""

    category: str
    name: str
    needs: Tuple[FrozenSet[str], ...]
    scope: str = CLAUSE
    window: Optional[int] = None
    unless: FrozenSet[str] = frozenset()


def rule(category: str, name: str, *needs: str, scope: str = CLAUSE, window: Optional[int] = None,
         unless: str = "") -> Rule:
    """Shorthand: each need is "LABEL|LABEL" (any one of these labels)."""
    return Rule(category, name, tuple(frozenset(need.split("|")) for need in needs), scope, window,
                frozenset(unless.split("|")) - {""})


RULES: Tuple[Rule, ...] = (
    rule("suicide", "suicidal thoughts or self-harm", "SUICIDAL|SELF_HARM"),
    rule("overheating", "hot and confused or collapsed",
         "HEAT", "CONFUSION|SPEECH|FAINT|COLLAPSE|STOPPED_SWEATING|CANT_GET_UP", scope=MESSAGE),
    rule("chest", "chest pain or pressure", "CHEST", "CHEST_FEELING", window=7),
    rule("chest", "cannot breathe", "CANT_BREATHE|CYANOSIS"),
    rule("chest", "severe breathlessness", "BREATHLESS", "CANT_SPEAK|SUDDEN|PERSISTING"),
    rule("chest", "fainting or collapse", "FAINT|COLLAPSE"),
    rule("chest", "palpitations", "PALPITATIONS"),
    rule("chest", "heartbeat that does not settle", "HEART", "PERSISTING"),
    rule("chest", "heart attack", "HEART_ATTACK"),
    rule("fall", "fall with injury or unable to get up",
         "FALL", "HEAD_INJURY|BLEEDING|FRACTURE|INJURY_PAIN|CANT_GET_UP|LIMB_DEFICIT"),
    rule("fall", "on the floor and unable to get up", "ON_FLOOR", "CANT_GET_UP"),
    rule("fall", "head injury with confusion", "HEAD_INJURY", "CONFUSION|SPEECH|FAINT", scope=MESSAGE),
    rule("stroke", "face drooping", "FACE_DROOP"),
    rule("stroke", "speech difficulty", "SPEECH|CANT_SPEAK", unless="LASTING"),
    rule("stroke", "severe headache", "HEADACHE", "SEVERITY", window=8),
    rule("stroke", "sudden headache", "HEADACHE", "SUDDEN", window=8),
    rule("stroke", "sudden weakness or numbness", "LIMB_DEFICIT", "SUDDEN", unless="LASTING"),
    rule("stroke", "sudden confusion", "CONFUSION", "SUDDEN", unless="LASTING"),
    rule("stroke", "stroke", "STROKE_EVENT"),
    rule("vision", "loss of vision", "VISION_LOSS"),
    rule("vision", "painful eye with changed vision", "EYE_PAIN", "BLUR|VISION_LOSS|DOUBLE_VISION",
         scope=MESSAGE),
    rule("vision", "new double vision", "DOUBLE_VISION", "SUDDEN|NEW|PERSISTING|RECENT"),
    rule("vision", "sudden blurred vision", "BLUR", "SUDDEN|NEW|PERSISTING"),
    rule("infection", "fever or infection with worse symptoms",
         "FEVER|INFECTION", "WORSE|SYMPTOM|LIMB_DEFICIT|CANT_GET_UP|CONFUSION|BLUR", scope=MESSAGE),
    rule("relapse", "new or worse symptoms for a day or more",
         "SYMPTOM|LIMB_DEFICIT|WORSE|SPEECH|BLUR|DOUBLE_VISION", "LASTING"),
    rule("relapse", "new symptom", "NEW", "SYMPTOM|LIMB_DEFICIT"),
    rule("relapse", "symptom that does not settle", "SYMPTOM|LIMB_DEFICIT", "PERSISTING"),
    rule("relapse", "relapse", "RELAPSE_EVENT"),
)


@dataclass(frozen=True)
class RedFlag:
    category: str  # one of CATEGORIES
    start: int  # character offsets in doc.text of the evidence
    end: int
    text: str  # the evidence text


class Mention(NamedTuple):
    """A matched span (token offsets) with its label."""

    label: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Mention) -> bool:
        return self.start < other.end and other.start < self.end

    def inside(self, other: Mention) -> bool:
        return other.start <= self.start and self.end <= other.end and other.size > self.size


# ------------------------------------------------------------------------------------------------
# From phrases to Matcher patterns.
# ------------------------------------------------------------------------------------------------

MACRO = re.compile(r"\$([A-Z]+)")


def compile_phrase(phrase: str) -> List[List[Dict]]:
    """The Matcher patterns for one phrase.

    The Matcher tries the first token of every pattern at every position, and it checks a plain
    value much faster than an IN or REGEX predicate; so each word of the first token becomes a
    pattern of its own ("fever|chills ..." -> "fever ...", "chills ...").
    """
    first, *rest = MACRO.sub(lambda match: MACROS[match.group(1)], phrase).split()
    tail = [compile_token(spec) for spec in rest]
    return [[head] + tail for head in first_tokens(first)]


def compile_token(spec: str) -> Dict:
    if spec == "_":
        return dict(FILLER)
    spec, optional = split_optional(spec)
    if spec.startswith("~"):
        token: Dict = {"LEMMA": {"IN": spec[1:].split("|")}}
    elif spec.startswith("!"):
        token = {"LOWER": {"NOT_IN": alternatives(spec[1:])}}
    elif "/" in spec:
        token = {"LOWER": {"REGEX": "|".join(regex(part) for part in alternatives(spec))}}
    else:
        token = {"LOWER": {"IN": alternatives(spec)}}
    return {**token, "OP": "?"} if optional else token


def first_tokens(spec: str) -> List[Dict]:
    """One token per word of the first token, and one for all its regexes."""
    spec, optional = split_optional(spec)
    if spec.startswith("!"):
        tokens = [compile_token(spec)]
    elif spec.startswith("~"):
        tokens = [{"LEMMA": lemma} for lemma in spec[1:].split("|")]
    else:
        words = [part for part in alternatives(spec) if not part.startswith("/")]
        regexes = [regex(part) for part in alternatives(spec) if part.startswith("/")]
        tokens = [{"LOWER": word} for word in words]
        tokens += [{"LOWER": {"REGEX": "|".join(regexes)}}] if regexes else []
    return [{**token, "OP": "?"} if optional else token for token in tokens]


def split_optional(spec: str) -> Tuple[str, bool]:
    optional = spec.endswith("?") and len(spec) > 1
    return (spec[:-1] if optional else spec), optional


def alternatives(spec: str) -> List[str]:
    """"dead|/^numb/" -> ["dead", "/^numb/"] (a regex may contain "|")."""
    return re.findall(r"/[^/]+/|[^|]+", spec)


def regex(part: str) -> str:
    return f"(?:{part[1:-1]})" if part.startswith("/") else f"^{re.escape(part)}$"


def all_tables() -> Iterable[Tuple[str, List[str]]]:
    for table in CONCEPT_TABLES + (NEGATION_CUES, CONTEXT_CUES, MASKS):
        yield from table.items()


# ------------------------------------------------------------------------------------------------
# The detector.
# ------------------------------------------------------------------------------------------------


class RedFlagDetector:
    """Finds the red flag of the first rule (by priority) that fires on a doc of lower-cased text."""

    def __init__(self, vocab: Vocab) -> None:
        self._matcher = Matcher(vocab, validate=True)
        for label, phrases in all_tables():
            self._matcher.add(label, [pattern for phrase in phrases for pattern in compile_phrase(phrase)])
        self._strings = vocab.strings

    def detect(self, doc: Doc) -> Optional[RedFlag]:
        found = self.explain(doc)
        return found[1] if found else None

    def explain(self, doc: Doc) -> Optional[Tuple[Rule, RedFlag]]:
        """The rule that fired and its red flag, or None."""
        clauses, segments = split(doc)
        concepts: Dict[str, List[Mention]] = {}
        for mention in self.live_concepts(doc, clauses, segments):
            concepts.setdefault(mention.label, []).append(mention)
        for candidate in RULES:
            evidence = find_evidence(candidate, concepts, clauses)
            if evidence:
                span = doc[min(m.start for m in evidence):max(m.end for m in evidence)]
                return candidate, RedFlag(candidate.category, span.start_char, span.end_char, span.text)
        return None

    def live_concepts(self, doc: Doc, clauses: Sequence[int], segments: Sequence[int]) -> List[Mention]:
        """The concepts that no mask, override, negation or context cue removes."""
        mentions = sorted({Mention(self._strings[key], start, end) for key, start, end in self._matcher(doc)},
                          key=lambda m: (m.start, m.end, m.label))
        masks = [m for m in mentions if m.label in MASKS]
        cues = [m for m in mentions if m.label in CUE_LABELS]
        concepts = [m for m in mentions if m.label in CONCEPT_LABELS and not masked(m, masks)]
        concepts = [m for m in concepts if not overridden(m, concepts)]
        cues = [cue for cue in cues if not any(cue.inside(concept) for concept in concepts)]
        negations = [cue for cue in cues if cue.label == NEGATION]
        cancelled = set().union(*(cue_scope(doc, cue, clauses, segments)
                                  for cue in cues if cue.label != NEGATION))
        return [m for m in concepts if m.label in UNCANCELLABLE
                or not (segments[m.start] in cancelled or negated(doc, m, negations, segments))]


def masked(mention: Mention, masks: Sequence[Mention]) -> bool:
    return any(mention.overlaps(mask) and mask.size >= mention.size for mask in masks)


def overridden(mention: Mention, concepts: Sequence[Mention]) -> bool:
    return any(mention.label in OVERRIDES.get(other.label, ()) and mention.overlaps(other)
               for other in concepts)


def cue_scope(doc: Doc, cue: Mention, clauses: Sequence[int], segments: Sequence[int]) -> Set[int]:
    """The segments a context cue cancels: its own, and for a cue in LOOKS_BACK after "but" also
    the clause before."""
    scope = {segments[cue.start]}
    clause = clauses[cue.start]
    if cue.label in LOOKS_BACK and doc[clauses.index(clause)].lower_ in CLAUSE_WORDS:
        scope.update(segment for segment, owner in zip(segments, clauses) if owner == clause - 1)
    return scope


def negated(doc: Doc, concept: Mention, negations: Sequence[Mention], segments: Sequence[int]) -> bool:
    """A negation comes shortly before the concept in its segment, with no "and", "so" ... between."""
    return any(segments[cue.start] == segments[concept.start]
               and 0 <= concept.start - cue.end < NEGATION_WINDOW
               and not any(token.lower_ in NEGATION_STOPS for token in doc[cue.end:concept.start])
               for cue in negations)


def split(doc: Doc) -> Tuple[List[int], List[int]]:
    """The clause number and the segment number of each token.

    A clause ends at . ! ? ; or a line break, and before "but", "although" ...; a segment also
    ends at a comma, colon, bracket or quote.
    """
    clauses, segments = [], []
    clause = segment = 0
    for token in doc:
        text = token.text.strip()
        if token.lower_ in CLAUSE_WORDS or "\n" in token.text or (text and set(text) <= CLAUSE_PUNCTUATION):
            clause += 1
            segment += 1
        elif text and set(text) <= SEGMENT_PUNCTUATION:
            segment += 1
        clauses.append(clause)
        segments.append(segment)
    return clauses, segments


def find_evidence(candidate: Rule, concepts: Dict[str, List[Mention]],
                  clauses: Sequence[int]) -> Optional[Tuple[Mention, ...]]:
    """The tightest choice of one mention per need that satisfies the rule, or None."""
    options = []
    for need in candidate.needs:
        options.append([m for label in need for m in concepts.get(label, ())])
        if not options[-1]:
            return None
    if any(label in concepts for label in candidate.unless):
        return None
    choices = [choice for choice in itertools.product(*options) if fits(candidate, choice, clauses)]
    return min(choices, key=width, default=None)


def width(choice: Sequence[Mention]) -> int:
    return max(m.end for m in choice) - min(m.start for m in choice)


def fits(candidate: Rule, choice: Sequence[Mention], clauses: Sequence[int]) -> bool:
    if candidate.scope == MESSAGE:
        return True
    if len({clauses[m.start] for m in choice} | {clauses[m.end - 1] for m in choice}) > 1:
        return False
    return candidate.window is None or width(choice) <= candidate.window
