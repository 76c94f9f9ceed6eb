"""Triage of a visitor's message, decided before any retrieval.

Rules are plain regular expressions so that a reviewer can read every one. They err on the side
of caution: a message that might describe an emergency is treated as one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Categories of a message, in the order they are decided.
EMERGENCY = "emergency"
DOSING = "dosing"
GREETING = "greeting"
THANKS = "thanks"
HELP = "help"


def _rx(*patterns: str) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_LIMB = r"(?:leg|legs|foot|feet|toes?|calf|calves|knee|knees|thigh|shin)"
_EMERGENCY = _rx(
    r"\bchest\b.{0,20}\b(?:pain|hurts?|tight(?:ness)?|pressure|crushing)",
    r"\b(?:pain|tight(?:ness)?|pressure)\b.{0,15}\bchest\b",
    r"\b(?:trouble|difficulty|hard|struggling|problems?)\s+(?:\w+\s+)?breath(?:e|ing)\b",
    r"\b(?:can'?t|cannot|can ?not|unable to)\s+(?:\w+\s+)?breathe?\b",
    r"\bshort(?:ness)? of breath\b", r"\bbreathless(?:ness)?\b", r"\bgasping\b",
    r"\bout of breath\b",
    # A suddenly cold, pale, blue or numb limb: blood supply may be cut off.
    rf"\bsudden(?:ly)?\b.{{0,40}}\b(?:cold|pale|white|blue|numb|dead)\b.{{0,30}}\b{_LIMB}",
    rf"\bsudden(?:ly)?\b.{{0,40}}\b{_LIMB}\b.{{0,30}}\b(?:cold|pale|white|blue|numb|dead)\b",
    rf"\b{_LIMB}\b.{{0,30}}\b(?:cold|pale|white|blue)\b.{{0,30}}\bsudden(?:ly)?\b",
    rf"\b{_LIMB}\b.{{0,20}}\bsudden(?:ly)?\b.{{0,30}}\b(?:cold|pale|white|blue|numb|dead)\b",
    rf"\b(?:cold|pale|white|blue)\s+(?:and\s+\w+\s+)?{_LIMB}\b",
    rf"\b{_LIMB}\b.{{0,25}}\b(?:turned|turning|gone|went|is|looks?)\s+(?:\w+\s+)?(?:cold|pale|white|blue)\b",
    r"\bno pulse\b", r"\bcan'?t feel my (?:leg|foot|feet)\b",
    # A hot, swollen calf may be a clot.
    r"\b(?:hot|warm|red)\b.{0,20}\bswollen\b.{0,20}\bcalf\b",
    r"\bswollen\b.{0,20}\b(?:hot|warm|red)\b.{0,20}\bcalf\b",
    r"\bcalf\b.{0,30}\b(?:hot|warm|red)\b.{0,20}\bswollen\b",
    r"\bcalf\b.{0,30}\bswollen\b.{0,20}\b(?:hot|warm|red)\b",
    r"\b(?:blood clot|dvt|deep vein thrombosis|pulmonary embolism)\b",
    # Loss of consciousness and other general emergencies.
    r"\b(?:passed|passing) out\b", r"\bfaint(?:ed|ing)?\b", r"\bunconscious\b", r"\bblack(?:ed)? out\b",
    r"\blost consciousness\b", r"\bloss of consciousness\b", r"\bi (?:just )?collapsed\b", r"\bunresponsive\b",
    r"\bseizure\b", r"\bslurred speech\b", r"\bface (?:is )?droop", r"\bstroke\b",
    r"\bcoughing (?:up )?blood\b", r"\bbleeding (?:heavily|a lot|won'?t stop)\b", r"\bbone (?:is )?sticking out\b",
    r"\b(?:suicid|kill myself|end my life)",
    r"\b(?:call|need) (?:an )?ambulance\b",
)

_DRUG = (
    r"(?:ibuprofen|advil|motrin|aleve|naproxen|tylenol|acetaminophen|paracetamol|aspirin|nsaids?|"
    r"diclofenac|voltaren|codeine|tramadol|opioids?|muscle relaxants?|cyclobenzaprine|flexeril|baclofen|"
    r"tizanidine|methocarbamol|diazepam|valium|quinine|gabapentin|magnesium|potassium|calcium|zinc|"
    r"vitamins?(?: [a-z]\d*)?|supplements?|electrolyte (?:tablets?|pills?|powder)|salt tablets?|"
    r"pills?|tablets?|capsules?|medicines?|medications?|meds|drugs?|pain ?relievers?|pain ?killers?)"
)
_DOSING = _rx(
    r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|g|grams?|milligrams?|micrograms?|ml|iu|units?|tablets?|pills?|capsules?)\b",
    r"\b(?:doses?|dosage|dosing|overdose|max(?:imum)? daily)\b",
    rf"\bhow (?:much|many)\b.{{0,40}}\b{_DRUG}\b",
    rf"\b{_DRUG}\b.{{0,40}}\bhow (?:much|many|often)\b",
    rf"\bhow often\b.{{0,25}}\b(?:take|have|use)\b.{{0,25}}\b{_DRUG}\b",
    rf"\b(?:what|which) (?:amount|strength)\b.{{0,40}}\b{_DRUG}\b",
    rf"\b(?:take|have|give)\b.{{0,20}}\b(?:\d+|one|two|three|four|five|six)\b.{{0,10}}\b{_DRUG}\b",
    r"\bmg\b",
)

# "When to See a Doctor": the article's red flags, in a visitor's words.
_RED_FLAG = _rx(
    r"\bpersist(?:s|ing|ent|ed)?\b", r"\b(?:won'?t|will not|doesn'?t|does not|don'?t|do not|never) (?:go away|stop|ease|settle)\b",
    r"\bkeeps? (?:coming back|happening|getting worse)\b", r"\bdespite\b.{0,30}\b(?:home|stretch|rest|remed)",
    r"\bsevere\b", r"\bworsening\b", r"\bgetting worse\b", r"\bworse and worse\b", r"\bunbearable\b",
    r"\bexcruciating\b", r"\bagony\b",
    r"\bmore (?:and more )?(?:often|frequent)", r"\bincreasing(?:ly)? (?:often|frequent)", r"\bfrequency\b.{0,20}\bincreas",
    r"\bevery (?:night|day|hour)\b", r"\bwakes? me\b", r"\bwoken? up\b", r"\bcan'?t sleep\b", r"\bkeeps? me (?:up|awake)\b",
    r"\b(?:disrupt|disturb|ruin)\w*\b.{0,30}\b(?:sleep|daily|life)\b", r"\b(?:sleep|sleeping)\b.{0,20}\b(?:disrupt|disturb)",
    r"\bnumb(?:ness)?\b", r"\b(?:swollen|swelling|swells?)\b",
    r"\b(?:skin|knee)\b.{0,30}\b(?:colou?r|red|purple|blue|discolou?r|dark)", r"\bdiscolou?r",
    r"\bchang\w* (?:in )?(?:skin )?colou?r\b",
)

_INJECTION = _rx(
    r"\bignore\b.{0,30}\b(?:instructions?|rules?|prompts?|above|previous|prior|guidelines?|article)\b",
    r"\bdisregard\b", r"\bforget\b.{0,30}\b(?:instructions?|rules?|everything|article)\b",
    r"\byou are (?:now|no longer)\b", r"\bpretend\b", r"\bact as\b", r"\brole-?play\b", r"\bpersona\b",
    r"\bsystem prompt\b", r"\bdeveloper mode\b", r"\bjailbreak\b", r"\bDAN\b", r"\bnew instructions?\b",
    r"\bfrom now on\b", r"\boverride\b", r"<\s*/?\s*(?:system|assistant|user)\s*>", r"\[(?:system|inst)\]",
)

_GREETING_WORDS = (
    r"hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening|day)|hi there|hello there|hey there"
)
_GREETING = re.compile(rf"^(?:{_GREETING_WORDS})(?: (?:bot|there|everyone|askknee))?$", re.IGNORECASE)
_THANKS = re.compile(
    r"^(?:(?:ok(?:ay)?|great|cool|perfect|awesome|nice) )?(?:thanks?(?: you)?(?: (?:so|very) much)?(?: a lot)?|thx|ty|cheers|"
    r"much appreciated|that helps|that helped|got it)(?: (?:bot|a lot))?$", re.IGNORECASE)
_HELP = re.compile(
    r"^(?:(?:" + _GREETING_WORDS + r") )?(?:help|what can you do|what do you do|who are you|what are you|"
    r"how does this work|what can i ask(?: you)?|what do you know(?: about)?|how can you help(?: me)?|"
    r"what is this|what are you for|what should i ask|can you help(?: me)?|menu|start)$",
    re.IGNORECASE)


@dataclass(frozen=True)
class Triage:
    """What kind of message this is; `category` is None for an ordinary question."""

    category: str | None = None
    red_flag: bool = False
    injection: bool = False


def _plain(text: str) -> str:
    """Lower-case words only, for whole-message greeting rules."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return " ".join(re.sub(r"[^\w\s']", " ", text).split())


def triage(text: str) -> Triage:
    """Classify a (cleaned) message: emergency, dosing, greeting/thanks/help, or a question."""
    norm = unicodedata.normalize("NFKC", text).replace("’", "'")
    injection = bool(_INJECTION.search(norm))
    if _EMERGENCY.search(norm):
        return Triage(EMERGENCY, injection=injection)
    if _DOSING.search(norm):
        return Triage(DOSING, injection=injection)
    plain = _plain(norm)
    for category, rule in ((GREETING, _GREETING), (THANKS, _THANKS), (HELP, _HELP)):
        if rule.match(plain):
            return Triage(category, injection=injection)
    return Triage(None, red_flag=bool(_RED_FLAG.search(norm)), injection=injection)
