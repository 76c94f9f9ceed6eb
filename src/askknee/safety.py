"""The rules of triage: plain regular expressions a reviewer can read, one per sign.

They are the floor under the classifier of `triage.py` (an emergency or a dose question they
catch is always caught) and they alone recognise greetings, thanks, requests for help and
instructions hidden in a message. They err on the side of caution.
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
# Emergency signs by kind (the kinds of `triage.EMERGENCY_KINDS`; "" when the sign names none).
# Signs described, not conditions named: "had a stroke years ago" or "can a blood clot cause
# cramps?" are ordinary questions, so a condition's name is left to the classifier, which reads
# the whole sentence.
_EMERGENCY = {
    "heart": _rx(
        r"\bchest\b.{0,20}\b(?:pain|hurts?|tight(?:ness)?|pressure|crushing)",
        r"\b(?:pain|tight(?:ness)?|pressure)\b.{0,15}\bchest\b",
    ),
    # Sudden breathlessness or coughing blood with a leg problem: a clot may have reached the lungs.
    "clot": _rx(
        r"\b(?:trouble|difficulty|hard|struggling|problems?)\s+(?:\w+\s+)?breath(?:e|ing)\b",
        r"\b(?:can'?t|cannot|can ?not|unable to)\s+(?:\w+\s+)?breathe?\b",
        r"\bshort(?:ness)? of breath\b", r"\bbreathless(?:ness)?\b", r"\bgasping\b",
        r"\bout of breath\b",
        r"\b(?:can'?t|cannot|struggling to|trying to|hard to|unable to) (?:get|catch) (?:my|his|her|their) breath\b",
        # A hot, swollen calf may be a clot.
        r"\b(?:hot|warm|red)\b.{0,20}\bswollen\b.{0,20}\bcalf\b",
        r"\bswollen\b.{0,20}\b(?:hot|warm|red)\b.{0,20}\bcalf\b",
        r"\bcalf\b.{0,30}\b(?:hot|warm|red)\b.{0,20}\bswollen\b",
        r"\bcalf\b.{0,30}\bswollen\b.{0,20}\b(?:hot|warm|red)\b",
        r"\bcoughing (?:up )?blood\b",
    ),
    # A suddenly cold, pale, blue or numb limb: blood supply may be cut off.
    "limb_blood_supply": _rx(
        rf"\bsudden(?:ly)?\b.{{0,40}}\b(?:cold|pale|white|blue|numb|dead)\b.{{0,30}}\b{_LIMB}",
        rf"\bsudden(?:ly)?\b.{{0,40}}\b{_LIMB}\b.{{0,30}}\b(?:cold|pale|white|blue|numb|dead)\b",
        rf"\b{_LIMB}\b.{{0,30}}\b(?:cold|pale|white|blue)\b.{{0,30}}\bsudden(?:ly)?\b",
        rf"\b{_LIMB}\b.{{0,20}}\bsudden(?:ly)?\b.{{0,30}}\b(?:cold|pale|white|blue|numb|dead)\b",
        rf"\b(?:cold|pale|white|blue)\s+(?:and\s+\w+\s+)?{_LIMB}\b",
        rf"\b{_LIMB}\b.{{0,25}}\b(?:turned|turning|gone|went|is|looks?)\s+(?:\w+\s+)?(?:cold|pale|white|blue)\b",
        r"\bno pulse\b", r"\bcan'?t feel my (?:leg|foot|feet)\b",
    ),
    "collapse": _rx(
        r"\b(?:passed|passing) out\b", r"\bunconscious\b", r"\bblack(?:ed)? out\b",
        r"\blost consciousness\b", r"\bloss of consciousness\b", r"\bi (?:just )?collapsed\b", r"\bunresponsive\b",
        r"\b(?:nearly|almost) (?:collapsed|passed out|fainted|blacked out)\b",
    ),
    # The face, arm and speech signs of a stroke.
    "stroke": _rx(r"\bslurred speech\b", r"\bspeech is slurred\b",
                  r"\b(?:face|mouth|smile)\b.{0,25}\b(?:droop\w*|lopsided|sagging|crooked)\b"),
    "injury": _rx(r"\bbleeding (?:heavily|a lot|won'?t stop)\b", r"\bbone (?:is )?sticking out\b"),
    # First-person words of suicidal intent, as crisis services list them.
    "self_harm": _rx(r"\b(?:i'?m|i am|feel(?:ing)?) suicidal\b", r"\b(?:kill|killing|hurt|hurting|cut|cutting) myself\b",
                     r"\bkms\b", r"\b(?:end|ending|take|taking) my (?:own )?life\b", r"\bend it all\b",
                     r"\b(?:i|i'?d|i'?m|i am)\b.{0,20}\b(?:want|wanna|ready) to die\b",
                     r"\bbetter off (?:dead|without me)\b", r"\bno (?:reason|point) (?:in )?(?:living|to live|being alive)\b",
                     r"\b(?:do not|don'?t) want to (?:be here|live|wake up)(?: any ?more)?\b", r"\bcan'?t go on\b",
                     r"\bending (?:it|things)\b"),
}

_DRUG = (
    r"(?:ibuprofen|advil|motrin|aleve|naproxen|tylenol|acetaminophen|paracetamol|aspirin|nsaids?|"
    r"diclofenac|voltaren|codeine|tramadol|opioids?|muscle relaxants?|cyclobenzaprine|flexeril|baclofen|"
    r"tizanidine|methocarbamol|diazepam|valium|quinine|gabapentin|magnesium|potassium|calcium|zinc|cbd|"
    r"vitamins?(?: [a-z]\d*)?|supplements?|electrolyte (?:tablets?|pills?|powder)|salt tablets?|"
    r"pills?|tablets?|capsules?|drops|medicines?|medications?|meds|drugs?|pain ?relievers?|pain ?killers?)"
)
_DOSING = _rx(
    r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|g|grams?|milligrams?|micrograms?|ml|iu|units?|tablets?|pills?|capsules?)\b",
    # Not a bare "dose": visitors type it for "does" ("how long dose a spasm last").
    r"\b(?:doses|dosage|dosing|overdose|max(?:imum)? daily)\b", r"\b(?:what|which|right|safe|max(?:imum)?) dose\b",
    r"\bdose (?:of|for)\b",
    rf"\bhow (?:much|many)\b.{{0,40}}\b{_DRUG}\b",
    rf"\b{_DRUG}\b.{{0,40}}\bhow (?:much|many|often)\b",
    rf"\bhow often\b.{{0,25}}\b(?:take|have|use)\b.{{0,25}}\b{_DRUG}\b",
    rf"\b(?:what|which) (?:amount|strength)\b.{{0,40}}\b{_DRUG}\b",
    rf"\b(?:take|have|give)\b.{{0,20}}\b(?:\d+|one|two|three|four|five|six)\b.{{0,10}}\b{_DRUG}\b",
    r"\bmg\b",
    # A number beside a medicine ("800 of advil", "ibuprofen 400"), or taking twice as much.
    rf"\b(?!(?:19|20)\d\d\b)\d+(?:[.,]\d+)?\s*(?:of\s+(?:the\s+|my\s+)?)?{_DRUG}\b", rf"\b{_DRUG}\s+\d+",
    r"\bdoubl(?:e|ing) up\b",
)

# "When to See a Doctor": the article's red flags, in a visitor's words, by item.
_RED_FLAG = {
    "persist": _rx(
        r"\bpersist(?:s|ing|ent|ed)?\b", r"\b(?:won'?t|will not|doesn'?t|does not|don'?t|do not|never) (?:go away|stop|ease|settle)\b",
        r"\bkeeps? (?:coming back|happening)\b", r"\bdespite\b.{0,30}\b(?:home|stretch|rest|remed)",
    ),
    "severe_pain": _rx(
        r"\bsevere\b", r"\bworsening\b", r"\bgetting worse\b", r"\bkeeps? getting worse\b", r"\bworse and worse\b",
        r"\bunbearable\b", r"\bexcruciating\b", r"\bagony\b",
    ),
    "frequency": _rx(
        r"\bmore (?:and more )?(?:often|frequent)", r"\bincreasing(?:ly)? (?:often|frequent)", r"\bfrequency\b.{0,20}\bincreas",
        r"\bevery (?:night|day|hour)\b", r"\bwakes? me\b", r"\bwoken? up\b", r"\bcan'?t sleep\b", r"\bkeeps? me (?:up|awake)\b",
        r"\b(?:disrupt|disturb|ruin)\w*\b.{0,30}\b(?:sleep|daily|life)\b", r"\b(?:sleep|sleeping)\b.{0,20}\b(?:disrupt|disturb)",
    ),
    "other_symptoms": _rx(
        r"\bnumb(?:ness)?\b", r"\b(?:swollen|swelling|swells?)\b",
        r"\b(?:skin|knee)\b.{0,30}\b(?:colou?r|red|purple|blue|discolou?r|dark)", r"\bdiscolou?r",
        r"\bchang\w* (?:in )?(?:skin )?colou?r\b",
    ),
}

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
class Screen:
    """What the rules see in a message: `category` (emergency, dosing, greeting, thanks, help) or
    None for a question; the emergency `kind` and the red-flag item they recognise, if any."""

    category: str | None = None
    kind: str = ""
    red_flag: bool = False
    kind_red_flag: str = ""
    injection: bool = False


def _plain(text: str) -> str:
    """Lower-case words only, for whole-message greeting rules."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return " ".join(re.sub(r"[^\w\s']", " ", text).split())


# NegEx-style context (Chapman et al., 2001): a sign denied, supposed or long past is not happening
# now. Read in the clause that holds it: denial and supposition before the sign, time anywhere.
_CLAUSE_END = re.compile(r"[.!?;,]|\b(?:but|however|though|although|anyway)\b", re.IGNORECASE)
_NOT_NOW_BEFORE = _rx(
    r"\b(?:no|not|never|without|none|nor)\b", r"\b(?:don'?t|doesn'?t|didn'?t|haven'?t|hasn'?t) (?:have|had|get|got)\b",
    r"\b(?:what )?if\b(?<!as if)", r"\bin case\b", r"\bwhether\b", r"\bsigns? of\b", r"\bsymptoms? of\b",
)
_NOT_NOW_ANYWHERE = _rx(
    r"\b(?:years?|months?) (?:ago|back)\b", r"\blast (?:year|month|summer|winter|spring|autumn|fall)\b",
    r"\bback in\b", r"\bused to\b", r"\bwhen i was (?:a|younger|pregnant|little|small)\b", r"\bonce\b",
    r"\bin general\b",
)


def _now(text: str, match: re.Match) -> bool:
    """Whether a sign matched in `text` is described as happening (not denied, supposed or past):
    read from the start of its clause to a few words after it (visitors write long run-on sentences)."""
    starts = [m.end() for m in _CLAUSE_END.finditer(text, 0, match.start())]
    start = starts[-1] if starts else 0
    end = _CLAUSE_END.search(text, match.end())
    after = " ".join(text[match.end():end.start() if end else len(text)].split()[:5])
    before = text[start:match.start()]
    return not (_NOT_NOW_BEFORE.search(before) or _NOT_NOW_ANYWHERE.search(f"{before} {match.group(0)} {after}"))


# Words of suicidal intent carry their own negations and conditions ("if it doesn't stop I'll kill
# myself"): they are never read as denied or supposed.
_ANY_CONTEXT = {"self_harm"}


def _first(rules: dict[str, re.Pattern], text: str, context: bool = False) -> str | None:
    """The first kind whose rule matches (with `context`, only a sign described as happening now)."""
    for kind, rule in rules.items():
        if any(not context or kind in _ANY_CONTEXT or _now(text, m) for m in rule.finditer(text)):
            return kind
    return None


def screen(text: str) -> Screen:
    """Classify a (cleaned) message by the rules: emergency, dosing, greeting/thanks/help, or a question."""
    norm = unicodedata.normalize("NFKC", text).replace("’", "'")
    injection = bool(_INJECTION.search(norm))
    emergency = _first(_EMERGENCY, norm, context=True)
    if emergency is not None:
        return Screen(EMERGENCY, emergency, injection=injection)
    red_flag = _first(_RED_FLAG, norm)
    flags = {"red_flag": red_flag is not None, "kind_red_flag": red_flag or "", "injection": injection}
    if _DOSING.search(norm):
        return Screen(DOSING, **flags)
    plain = _plain(norm)
    for category, rule in ((GREETING, _GREETING), (THANKS, _THANKS), (HELP, _HELP)):
        if rule.match(plain):
            return Screen(category, injection=injection)
    return Screen(None, **flags)
