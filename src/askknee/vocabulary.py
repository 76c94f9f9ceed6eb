"""Query wording: a small lay <-> clinical vocabulary, and typo repair against the corpus's words.

Visitors say "charley horse", "physio" or "pills"; articles say "muscle spasm", "physical
therapy" and "medications". Matching terms add the other wording to the query.
Entries here are general English consumer-health vocabulary; a corpus adds its own (its subject's
lay names) in its profile (`profile.py`), tried first.

Visitors also mistype ("dehydation", "relife"). A word that is neither English (SymSpell's
bundled frequency dictionary) nor in the corpus is replaced by the nearest corpus word within
edit distance 1 (short words) or 2. Contractions typed without the apostrophe ("doesnt") and
words the vocabulary itself knows ("xray") are left alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

from .lazy import Once

# lay phrase (regex, matched on word boundaries) -> clinical wording added to the query.
# Longer, more specific phrases first: a span matched once is not matched again, so
# "hot water bottle" means heat therapy and not also drinking water.
LAY_TO_CLINICAL: dict[str, str] = {
    r"physio(therapy|therapist)?|pt|rehab": "physical therapy",
    r"pills?|meds|painkillers?|tablets?|ibuprofen|advil|tylenol|paracetamol|aspirin|naproxen": "medications pain relievers",
    r"doc|gp|physician|clinic|appointment": "doctor healthcare professional provider",
    r"scans?|x-?rays?|mri|ultrasound": "imaging",
    r"blood ?work|labs?": "blood tests",
    r"drink(ing)?|water|fluids?|thirsty|dehydrated": "hydration fluid intake dehydration",
    r"salts?|minerals?|electrolytes?|sodium|gatorade": "electrolyte imbalances minerals",
    r"bananas?": "potassium",
    r"milk|dairy": "calcium",
    r"stretch(es|ing)?|yoga": "stretching",
    r"tired|fatigue|exhausted|worn out|run down": "muscle fatigue overuse",
    # "work out what/why ..." is figuring something out (third pass, below), not exercise.
    r"work(ing)? ?out(?! (what|why|how|if|whether|myself|for myself))|exercis(e|es|ing)|gym|running|runs?|marathon|training|athletes?|sports?|football|soccer|"
    r"basketball|tennis|cycling": "sports physical activity exercise overuse",
    r"jobs?|shifts?|construction|manual work|on my feet|lifting": "physically demanding jobs",
    r"hurts?|aches?|aching|sore(ness)?|painful": "pain",
    r"pins and needles|tingl(e|es|ing)|numb": "numbness",
    r"puff(y|iness)|swollen": "swelling",
    r"colou?r|pale|bluish|redness|discolou?r(ed|ation)?": "skin color",
    r"at night|while sleeping|wakes? me( up)?|in bed": "sleep",
    r"how long|lasts?|duration": "duration seconds minutes",
    r"how (strong|bad|severe)|strength|intensity|mild|worse": "intensity severe",
    r"diary|journal|log|keep(ing)? track|write (it |them )?down|record": "track note episodes patterns",
    r"how common|who gets|prone|at risk|more likely": "common prevalent",
    r"mean|sign of|indicate": "indicate sign",
    r"why|reason|cause(d|s)?|trigger(s|ed)?": "causes",
    r"stop|get rid|relieve|relief|treat|fix|cure|help|remed(y|ies)": "relief treatment home remedies",
    r"prevent(ion)?|avoid": "prevent",
    r"diet|eat(ing)?|food": "dietary changes",
    r"surgery|operations?|op": "surgery surgical intervention",
    r"thigh|quad(s|riceps)?|hamstrings?|calf|calves": "thigh calf muscles",
    r"nerves?|sciatica|pinched": "neurological nerve damage",
    r"blood flow|circulation": "poor circulation",
    r"diabet(es|ic)|thyroid|kidney": "underlying medical conditions",
    r"injur(y|ies|ed)|hurt it|fell|fall|trauma|sprain(ed)?": "injury trauma",
    r"when (should|do) i see|see a doctor|worried|serious|red flags?": "when to see a doctor",
    # Added in a second pass over general consumer-health wording (symptoms, course, tests, causes).
    r"sweat(s|ing|y)?|hot weather|heat ?wave": "dehydration fluid intake",
    r"supplements?|vitamins?": "essential minerals",
    r"shak(e|es|ing|y)|jerk(s|ing|y)?": "twitching spasm",
    r"throbb(ing|s)|stabbing|shooting|pulling": "sharp pain",
    r"stiff(ness)?|can'?t (bend|straighten)|won'?t (bend|straighten)|locked": "reduced mobility stiff locked",
    r"won'?t go away|not going away|keeps? (coming back|happening)|for (weeks|months)|chronic|ongoing|recurr(ing|ent)|constant(ly)?|persistent":
        "persist despite home care",
    r"more often|more frequent(ly)?|getting worse|worsen(s|ing)?": "frequency increases worsening",
    r"day to day|everyday|daily life|normal life": "daily activities",
    r"tests?|check(ed)? out|diagnos(e|ed|is)|examin(e|ed|ation)|check-?up": "diagnostic tests",
    r"bones?|cartilage|ligaments?|tendons?|meniscus": "structural bones soft tissues",
    r"how much water|glasses|lit(re|er)s?|ounces": "glasses of water daily",
    r"stop (it|them) (from )?(happening|coming back)|keep (it|them) from|reduce the risk|less likely": "prevent",
    r"strain(ed)?|pulled (a )?muscle|overd(id|o|oing)|too much": "overuse overexertion strain",
    r"weather|winter|chilly|freezing|cold water|swimming": "cold exposure",
    r"strengthen(ing)?|exercise program|rehab exercises": "physical therapy strengthen",
    r"hormones?|metabolic|metabolism": "underlying medical conditions metabolic imbalances",
    # Third pass, fitted on the grown dev set (124 questions): everyday phrasings of what
    # articles put in clinical words (daily life, not getting better, seeing someone, tracking).
    r"can'?t (do|manage|get on with)|stops? me (from )?(doing|working|sleeping)|gets? in the way of|interfer(es|ing) with":
        "disrupt daily activities",
    r"(normal|usual|ordinary) (day|routine)|every ?day (stuff|things|tasks)|day-to-day (stuff|things|tasks)|"
    r"house ?work|chores|errands": "daily activities",
    r"(not|never|\w+n'?t) (get(ting)?|got|gotten) (any )?better|no better|not improving|"
    r"(has|have|did|does|do)(n'?t| not) (helped|helping|worked|working|done anything)|nothing (helps|works|has (helped|worked))":
        "persist despite home care measures",
    r"see (someone|somebody|a professional|a specialist)|need (a|to see a) (doctor|gp|doc)|"
    r"bother (the|my|a) (doctor|gp|doc)|get (it |this |them )?(checked|looked at)|seek (help|advice)|professional help":
        "when to see a doctor healthcare professional",
    r"out of (nowhere|the blue)|for no (apparent |obvious )?reason|random(ly)?|at random|without (warning|reason)":
        "spontaneously",
    r"tell (my|the|your) (doctor|gp|doc|physio)|what (to|should i) (say|tell|mention)|mention to":
        "note helpful information healthcare provider",
    r"summary|summari[sz]e|sum (it )?up|tl;? ?dr|in (short|a nutshell|brief)|(key|main) points|the basics|overview":
        "key takeaways",
    r"straight (after|away)|right (after|away)|at once|as soon as": "immediately",
    r"not enough|too little|lack(ing)? of|short of": "insufficient",
    r"low levels?|(is|are|was|were) (a bit |too |very )?low|deficien(t|cy|cies)": "deficiencies imbalances",
    r"send (me|you|them) for|refer(red|ral)?( me| you)? (for|to)": "recommended suggest",
    r"differ(s)?|chang(e|es|ing) depending|not (always )?the same": "vary",
    r"healthy|healthier|in good shape|in good condition": "health",
    r"figure (it )?out|work (it )?out (what|why|how|if|whether|myself|for myself)|find out (what|why)|"
    r"get to the bottom of|pin ?point": "determine",
    r"only (happens? |comes? on |get(s)? (it|them) )?(when|after)|every ?time i|whenever i": "triggered by specific activities",
    r"go(es)? away (on (its|their) own|by (itself|themselves))|sort (itself|themselves) out|clear up on (its|their) own":
        "persist",
    r"keep(ing)? an eye on|pay(ing)? attention|watch (out )?for|look out for|monitor(ing)?": "monitoring track note patterns",
}

# Words the speller must not "repair": apostrophe-less contractions ("havent" -> "have" and
# "doesnt" -> "does" flip a question's meaning) and lay words the vocabulary knows ("xray").
_CONTRACTIONS = (r"(?:do|does|did|has|have|had|is|are|was|were|ca|wo|could|would|should|must|need|ai)nt|"
                 r"(?:i|you|we|they|he|she|it|that|what|who|there|where)(?:s|re|ve|ll|d|m)")
_CONTRACTION = re.compile(_CONTRACTIONS, re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")


class Vocabulary:
    """The lay -> clinical table: a corpus's own entries (`extra`, from its profile) first, then the
    general ones."""

    def __init__(self, extra: Mapping[str, str] | None = None):
        extra = dict(extra or {})
        self.table = {**extra, **{k: v for k, v in LAY_TO_CLINICAL.items() if k not in extra}}
        self._compiled = [(re.compile(rf"\b(?:{k})\b", re.IGNORECASE), v) for k, v in self.table.items()]
        self._keep = re.compile(_CONTRACTIONS + "|" + "|".join(f"(?:{k})" for k in self.table), re.IGNORECASE)

    def expansion(self, question: str) -> str:
        """Clinical wording for the lay terms in a question ("" if none)."""
        extra: list[str] = []
        rest = question
        for pattern, words in self._compiled:
            if pattern.search(rest):
                rest = pattern.sub(" ", rest)
                if words not in extra:
                    extra.append(words)
        return " ".join(extra)

    def expand(self, question: str) -> str:
        """The question plus the clinical wording of any lay terms it uses."""
        extra = self.expansion(question)
        return f"{question} {extra}" if extra else question

    def keeps(self, word: str) -> bool:
        """Whether the speller must leave a word alone (a contraction, or a lay word the table knows)."""
        return bool(self._keep.fullmatch(word))


GENERAL = Vocabulary()


def expansion(question: str) -> str:
    """Clinical wording for the general lay terms in a question ("" if none)."""
    return GENERAL.expansion(question)


def is_contraction(word: str) -> bool:
    """Whether a word is a contraction typed without its apostrophe ("im", "dont", "theyre")."""
    return bool(_CONTRACTION.fullmatch(word))


def expand_query(question: str) -> str:
    """The question plus the clinical wording of any general lay terms it uses."""
    return GENERAL.expand(question)


@lru_cache(maxsize=1)
def english_frequency() -> tuple[dict[str, int], int]:
    """English word counts from SymSpell's bundled frequency dictionary, and their total (empty if
    symspellpy is not installed)."""
    try:
        from importlib.resources import files

        text = (files("symspellpy") / "frequency_dictionary_en_82_765.txt").read_text(encoding="utf-8")
    except (ImportError, OSError):
        return {}, 0
    counts = {}
    for line in text.splitlines():
        word, _, n = line.partition(" ")
        if word:
            counts[word] = int(n) if n.strip().isdigit() else 0
    return counts, sum(counts.values())


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Known English words: SymSpell's bundled frequency dictionary (empty if not installed)."""
    return frozenset(english_frequency()[0])


class Speller:
    """Repairs mistyped query words using the corpus's own vocabulary (SymSpell)."""

    def __init__(self, texts: Iterable[str], vocabulary: Vocabulary = GENERAL):
        counts = Counter(w.lower() for t in texts for w in _WORD.findall(t))
        self._vocabulary = vocabulary
        for words in vocabulary.table.values():
            counts.update(w for w in words.split() if w not in counts)
        self._counts = counts
        self._known = english_words() | set(counts)
        # Built on the first unknown word: a few seconds for a large corpus, unneeded for most questions.
        self._sym = Once(self._build_symspell)

    def _build_symspell(self):
        from symspellpy import SymSpell

        sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        for word, n in self._counts.items():
            if len(word) >= 3:
                sym.create_dictionary_entry(word, n)
        return sym

    def fix(self, word: str) -> str:
        """The corpus word a mistyped word most likely meant, or the word itself."""
        w = word.lower()
        if len(w) < 3 or w in self._known or self._vocabulary.keeps(w):
            return word
        try:
            from symspellpy import Verbosity

            sym = self._sym.get()
        except ImportError:  # optional: without it, questions go through unchanged
            return word
        found = sym.lookup(w, Verbosity.TOP, max_edit_distance=1 if len(w) <= 5 else 2)
        return found[0].term if found else word

    def correct(self, question: str) -> str:
        return _WORD.sub(lambda m: self.fix(m.group(0)), question)
