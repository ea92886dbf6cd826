"""Small word lists shared by the grounding signals, context reliance and the verifier's training-data recipe.

General English (negation cues, antonym pairs, quantifiers, causal connectives, number words), not tuned to
any data set.
"""

from __future__ import annotations

# The one stop-word list (grounding's content words, the prior-word check of context reliance): function words,
# pronouns and quantifier-like determiners that say nothing a source must hold.
STOP_WORDS = frozenset("""a an the and or but if then else of to in on at by for with from as is are was were be been
being am do does did done has have had having it its it's this that these those there here which who whom whose what
when where why how not no nor so than too very can could should would may might must will shall just also only about
into onto over under after before between during while both each few more most other some such own same all any i you
he she we they me him her us them my your his our their mine yours one ones s t""".split())

NEGATION_WORDS = frozenset("""not no never none nobody nothing neither nor without cannot n't nowhere""".split())
NEGATION_PHRASES = ("no longer", "failed to", "fails to", "fail to", "rather than", "instead of", "yet to")

ANTONYMS = [
    ("increase", "decrease"), ("increased", "decreased"), ("increasing", "decreasing"), ("rose", "fell"),
    ("rise", "fall"), ("growth", "decline"), ("grew", "shrank"), ("largest", "smallest"), ("larger", "smaller"),
    ("large", "small"), ("highest", "lowest"), ("higher", "lower"), ("high", "low"), ("north", "south"),
    ("northern", "southern"), ("east", "west"), ("eastern", "western"), ("before", "after"), ("first", "last"),
    ("more", "less"), ("most", "least"), ("won", "lost"), ("gained", "lost"), ("strong", "weak"),
    ("stronger", "weaker"), ("rich", "poor"), ("wealthy", "poor"), ("import", "export"), ("imports", "exports"),
    ("majority", "minority"), ("early", "late"), ("earlier", "later"), ("oldest", "newest"), ("old", "new"),
    ("accepted", "rejected"), ("approved", "rejected"), ("allowed", "banned"), ("legal", "illegal"),
    ("independent", "dependent"), ("public", "private"), ("urban", "rural"), ("inland", "coastal"),
    ("success", "failure"), ("successful", "unsuccessful"), ("stable", "unstable"), ("peaceful", "violent"),
    ("expanded", "reduced"), ("joined", "left"), ("entered", "left"), ("began", "ended"), ("start", "end"),
    ("started", "ended"), ("opened", "closed"), ("upper", "lower"), ("maximum", "minimum"), ("wet", "dry"),
    ("hot", "cold"), ("warm", "cool"), ("above", "below"), ("inside", "outside"), ("positive", "negative"),
    ("benign", "malignant"), ("safe", "dangerous"), ("effective", "ineffective"), ("acute", "chronic"),
    ("profit", "loss"), ("surplus", "deficit"), ("lend", "borrow"), ("buy", "sell"), ("bought", "sold"),
    ("acquired", "sold"), ("guilty", "innocent"), ("plaintiff", "defendant"), ("upheld", "overturned"),
    ("heavy", "light"), ("fast", "slow"), ("faster", "slower"), ("long", "short"), ("longer", "shorter"),
    ("longest", "shortest"), ("deep", "shallow"), ("dense", "sparse"), ("include", "exclude"),
    ("includes", "excludes"), ("supported", "opposed"), ("support", "oppose"), ("victory", "defeat"),
    ("ally", "enemy"), ("inner", "outer"), ("internal", "external"), ("minor", "major"), ("cheap", "expensive"),
    ("cheaper", "costlier"), ("gain", "loss"), ("raise", "lower"), ("raised", "lowered"), ("add", "remove"),
    ("added", "removed"), ("win", "lose"), ("open", "closed"), ("on", "off"), ("enable", "disable"),
    ("enabled", "disabled"), ("increases", "decreases"), ("rises", "falls"), ("lowest", "highest"),
    ("strengthened", "weakened"), ("improved", "worsened"), ("better", "worse"), ("best", "worst"),
    ("true", "false"), ("present", "absent"), ("accept", "reject"), ("allow", "forbid"), ("permitted", "forbidden"),
    ("mandatory", "optional"), ("required", "optional"), ("younger", "older"), ("youngest", "oldest"),
    ("rising", "falling"), ("more", "fewer"), ("growing", "shrinking"), ("inbound", "outbound"),
]
ANTONYM = {}
for _a, _b in ANTONYMS:
    ANTONYM.setdefault(_a, set()).add(_b)
    ANTONYM.setdefault(_b, set()).add(_a)

QUANTIFIERS = [
    ("some", "all"), ("several", "all"), ("many", "few"), ("most", "few"), ("a few", "most"),
    ("at least", "at most"), ("more than", "less than"), ("over", "under"), ("nearly all", "only a few"),
    ("almost all", "hardly any"), ("all", "some"), ("every", "no"), ("the majority of", "a small minority of"),
    ("about half", "nearly all"), ("only", "mostly"), ("both", "neither of the"), ("always", "sometimes"),
    ("often", "rarely"), ("widely", "rarely"), ("mainly", "only partly"),
]
QUANTIFIER_WORDS = frozenset("""all every each some several many few most none both either neither only always
never sometimes often rarely usually mostly mainly entire whole any""".split())

CAUSAL = ("caused", "causes", "cause", "led to", "leads to", "resulted in", "results in", "triggered", "prompted",
          "brought about", "produced", "gave rise to", "because of", "because", "due to", "as a result of",
          "owing to", "so that", "therefore", "which is why", "responsible for")

NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                     "ninety": 90, "hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000,
                     "half": 0.5, "quarter": 0.25, "twice": 2, "thrice": 3, "dozen": 12})
MULTIPLIERS = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
