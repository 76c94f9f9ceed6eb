"""Every fixed sentence the bot says in its own voice — the one reviewed place.

Medical content is never written here except as the article's own words (the disclaimer and
the "When to See a Doctor" guidance are quoted from the page). Nothing here echoes the visitor.
Change wording only with review: tests check that replies are article quotes or these strings.
"""

from __future__ import annotations

# The article's own disclaimer, verbatim; it ends every reply on every path.
DISCLAIMER = (
    "This tool is not intended to be a substitute for professional medical advice, diagnosis, "
    "or treatment. Always consult a professional before taking any actions."
)

# Its first sentence, as the one short, muted line that ends each reply in the web chat (the page's
# footer carries it whole; the API and the command line give it whole).
DISCLAIMER_SHORT = "This tool is not intended to be a substitute for professional medical advice, diagnosis, or treatment."

EMERGENCY = (
    "**This may be a medical emergency. Call your local emergency number (for example 911, 112 or 999) "
    "or go to the nearest emergency department now.** Do not wait for an online answer."
)
# The emergency notice deliberately carries phone numbers; it is the one place digits are allowed
# in a safety reply, and it is never combined with retrieved text.

# For thoughts of suicide or self-harm: crisis lines as well as the emergency number (988 is the US
# Suicide & Crisis Lifeline, call or text; 116 123 is Samaritans in the UK and Ireland).
SELF_HARM = (
    "**If you are thinking about harming yourself or ending your life, please reach out now: call your local "
    "emergency number or a crisis line.** In the US, call or text 988 (Suicide & Crisis Lifeline); in the UK "
    "and Ireland, call Samaritans on 116 123. You don't have to face this alone."
)

DOSING = (
    "I can't give doses or amounts of any medicine or supplement: this article gives no doses. "
    "Please ask a doctor or pharmacist, who can take your health and other medicines into account."
)

RED_FLAG_LEAD = "**Please read this first.** The article's section *When to See a Doctor* says:"
RED_FLAG_FALLBACK = "Please contact a healthcare professional about these symptoms."

NOT_FOUND = "I couldn't find that in this article."
# Names, as typed, a word of the question the article never uses (letters only, so nothing is markup).
MISSING = "The article doesn't cover {topic}."
CLOSEST = "The closest the article comes to this:"
DID_YOU_MEAN = "Did you mean:"
TOPICS_LEAD = "This article covers:"
RELATED_LEAD = "The article links to a related page that may help:"

INJECTION = "I can only quote this article; instructions inside a message don't change that."

GREETING = (
    "Hello! I answer questions about the article *{title}*, quoting it and linking each answer to its section."
)
THANKS = "You're welcome! Ask me anything else about the article *{title}*."
HELP = (
    "I answer questions about the article *{title}*: I quote the article and link each answer to "
    "the section it comes from. I can't give personal medical advice."
)
EXAMPLES_LEAD = "You could ask, for example:"

EMPTY = "Please type a question about the article."
# No figure here: this notice may precede a dosing reply, which must carry no numbers.
TOO_LONG = "Your message was very long, so I only read its beginning."
# Shown under the text box as a visitor types past what the reply reads.
TYPED_LIMIT = "Only the first 1,000 characters are read."
ERROR = "Sorry, something went wrong on my side and I couldn't answer. Please try again."

SUGGESTIONS_LEAD = "You might also ask:"
SOURCE = "Source:"

# Every fixed sentence of ours, for tests that check a reply holds only quotes and these.
FIXED = (
    DISCLAIMER, EMERGENCY, SELF_HARM, DOSING, RED_FLAG_LEAD, RED_FLAG_FALLBACK, NOT_FOUND, MISSING, CLOSEST,
    DID_YOU_MEAN, TOPICS_LEAD, RELATED_LEAD, INJECTION,
    GREETING, THANKS, HELP, EXAMPLES_LEAD, EMPTY, TOO_LONG, ERROR, SUGGESTIONS_LEAD, SOURCE, DISCLAIMER_SHORT,
    TYPED_LIMIT,
)
