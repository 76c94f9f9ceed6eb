"""A small lay <-> clinical vocabulary of general consumer-health terms, for query expansion.

Visitors say "charley horse", "physio" or "pills"; articles say "muscle spasm", "physical
therapy" and "medications". Matching terms add the other wording to the query.
Entries are general English health vocabulary, not tied to any one article.
"""

from __future__ import annotations

import re

# lay phrase (regex, matched on word boundaries) -> clinical wording added to the query
LAY_TO_CLINICAL: dict[str, str] = {
    r"charley ?horses?|charlie ?horses?|cramp(s|ing|ed)?|crampy": "muscle spasm cramp",
    r"twitch(es|ing|y)?|jump(s|ing|y)|flutter(s|ing)?|quiver(s|ing)?": "twitching spasm",
    r"lock(s|ed|ing)? up|seiz(e|es|ed|ing) up|tight(ens|ening)?|knot(s|ted)?": "tightening spasm",
    r"physio(therapy|therapist)?|pt|rehab": "physical therapy",
    r"pills?|meds|painkillers?|tablets?|ibuprofen|advil|tylenol|paracetamol|aspirin|naproxen": "medications pain relievers",
    r"doc|gp|physician|clinic": "doctor healthcare professional",
    r"scans?|x-?rays?|mri|ultrasound": "imaging",
    r"blood ?work|labs?": "blood tests",
    r"water|drink(ing)?|fluids?|thirsty|dehydrated": "hydration fluid intake dehydration",
    r"salts?|minerals?|electrolytes?|sodium|gatorade": "electrolyte imbalances minerals",
    r"bananas?": "potassium",
    r"milk|dairy": "calcium",
    r"ice|ice pack|cold pack|frozen peas": "cold therapy",
    r"heating pad|hot water bottle|warm (bath|compress)|heat pack": "heat therapy",
    r"stretch(es|ing)?|yoga": "stretching",
    r"work(ing)? ?out|exercis(e|es|ing)|gym|running|sports?": "physical activity exercise overuse",
    r"tired|fatigue|exhausted|worn out": "muscle fatigue overuse",
    r"hurts?|aches?|aching|sore(ness)?|painful": "pain",
    r"pins and needles|tingl(e|es|ing)|numb": "numbness",
    r"puff(y|iness)|swollen": "swelling",
    r"at night|while sleeping|wakes? me( up)?|in bed": "sleep",
    r"how long|lasts?|duration": "duration seconds minutes",
    r"why|reason|cause(d|s)?|trigger(s|ed)?": "causes",
    r"stop|get rid|relieve|relief|treat|fix|cure|help|remed(y|ies)": "relief treatment home remedies",
    r"prevent(ion)?|avoid": "prevent",
    r"diet|eat(ing)?|food": "dietary changes",
    r"surgery|operation|op": "surgery surgical intervention",
    r"thigh|quad(s|riceps)?|hamstrings?|calf|calves": "thigh calf muscles",
    r"nerves?|sciatica|pinched": "neurological nerve damage",
    r"blood flow|circulation": "poor circulation",
    r"diabet(es|ic)|thyroid|kidney": "underlying medical conditions",
    r"injur(y|ies|ed)|hurt it|fell|fall|trauma|sprain(ed)?": "injury trauma",
    r"when (should|do) i see|see a doctor|worried|serious|red flags?": "when to see a doctor",
}

_COMPILED = [(re.compile(rf"\b(?:{k})\b", re.IGNORECASE), v) for k, v in LAY_TO_CLINICAL.items()]


def expand_query(question: str) -> str:
    """The question plus the clinical wording of any lay terms it uses."""
    extra = []
    for pattern, words in _COMPILED:
        if pattern.search(question) and words not in extra:
            extra.append(words)
    return f"{question} {' '.join(extra)}" if extra else question
