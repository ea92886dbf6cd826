"""Claim against its best-aligned evidence: the mismatches that word overlap cannot see.

Word overlap passes "Marie Curie was not born in Warsaw" and "chemistry in 1903 and physics in 1911": every word
is in the source. These signals compare the claim with the evidence window that holds most of its content
words, and each that fires comes with a reason that quotes the evidence:
- ``negation_mismatch``: the claim and its aligned source sentence differ in negation (not, never, no, failed to);
- ``antonym_mismatch``: a claim word whose opposite the evidence uses instead (increased / decreased);
- ``number_mismatch``: numbers of the claim that its evidence window lacks, where the window gives numbers;
- ``name_mismatch``: names the sources hold, but not in the window the claim aligns with (an entity moved);
- ``order_swap``: names or numbers that claim and evidence hold in reversed roles (A ... B vs B ... A; on either
  side of the same verb: "A agreed to acquire B" vs "B agreed to acquire A"), or a name put where the cited
  sentence has another, or a quote of the source given to someone its sentence does not name;
- ``quantifier_mismatch``: a quantifier (all, most, only, at least) that the evidence does not use;
- ``causal_reversal``: cause and effect on opposite sides of a causal connective;
- ``value_substitution``: a name or number of the claim that no evidence holds, standing where the source has
  another of its kind ("born in Vienna" for "born in Warsaw", "in 1868" for "in 1867"). It labels the claim
  contradicted and says what the source has instead; it is not a feature of the shipped fusion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

from .lexicon import ANTONYM, CAUSAL, NEGATION_PHRASES, NEGATION_WORDS, QUANTIFIER_WORDS
from .fusion import ALIGNMENT_FEATURES, LABEL_SIGNALS
from ...text.aggregate import sentence_spans
from .lexical import _MONTHS, _norm, name_tokens, number_values, tokens

_CAUSAL_RE = re.compile(r"\b(" + "|".join(re.escape(c) for c in sorted(CAUSAL, key=len, reverse=True)) + r")\b",
                        re.IGNORECASE)
_PASSIVE_BY = re.compile(r"\b(?:was|were|is|are|been|being)\s+(?:\w+\s+)?\w+(?:ed|en|wn|lt|ght)\s+by\b",
                         re.IGNORECASE)


@dataclass(frozen=True)
class Alignment:
    signals: dict[str, float]
    reasons: tuple[str, ...]
    contradictions: tuple[str, ...] = ()  # those of the reasons that say what the source says otherwise


def negation_count(text: str) -> int:
    low = " " + text.lower().replace("’", "'") + " "
    n = sum(1 for w in re.findall(r"[a-z']+", low) if w in NEGATION_WORDS or w.endswith("n't"))
    return n + sum(low.count(" " + p + " ") for p in NEGATION_PHRASES)


# "each" and "any" distribute or generalise without changing what is claimed ("each gram took up 3.2 mmol");
# they are left out of the quantifier check.
_WEAK_QUANTIFIERS = frozenset({"each", "any"})
_HEDGE = re.compile(r"\b(?:up to|about|around|roughly|nearly|almost|approximately|at least|at most|more than|"
                    r"fewer than|less than|over|under|some|partly|mostly|mainly)\b", re.IGNORECASE)
# Function words that carry a role next to a name or number ("from 68 to 92", "by Varga").
_ROLE_WORDS = frozenset("from to by than against over under between after before of for".split())
_CLAUSE_END = re.compile(r"[,;:()]|\b(?:and|but|while|whereas|although|though|which|who)\b", re.IGNORECASE)
NEGATION_SCOPE = 2  # content words after a negation cue that it negates, within its clause
NEGATION_COVERAGE = 0.75  # share of the claim's content words the sentence must hold for a negation flip to count


_NEGATION_CUE = re.compile(r"\b(?:" + "|".join(sorted(NEGATION_WORDS | {re.escape(p) for p in NEGATION_PHRASES},
                                                     key=len, reverse=True)) + r")\b|n't\b", re.IGNORECASE)


def _negated(text: str) -> tuple[set[str], set[str]]:
    """(content words in the scope of a negation cue, the other content words)."""
    cues = [m.end() for m in _NEGATION_CUE.finditer(text.replace("’", "'"))]
    toks = [t for t in tokens(text) if t.content and not t.is_number]
    negated: set[str] = set()
    for end in cues:
        stop = _CLAUSE_END.search(text, end)
        limit = stop.start() if stop else len(text)
        scope = [t for t in toks if end <= t.start < limit][:NEGATION_SCOPE]
        negated.update(t.norm for t in scope)
    return negated, {t.norm for t in toks} - negated


def negation_flips(claim: str, sentence: str) -> list[str]:
    """Words one side negates that the other states plainly ("was not born in Warsaw" / "was born in Warsaw";
    "it had recovered" / "it had not recovered"). A negation about words the other side does not use is no
    flip: "did not feel able" vs "felt unable" share no negated word."""
    n_c, p_c = _negated(claim)
    n_s, p_s = _negated(sentence)
    return sorted(((n_c & p_s) - n_s) | ((n_s & p_c) - n_c))


def _names(text: str) -> set[str]:
    toks = tokens(text)
    return {t.norm for k, t in enumerate(toks) if t.content and t.is_name and not t.is_number and k > 0}


def _anchor_spans(text: str, known: set[str] = frozenset(), by_kind: bool = False,
                  toks=None) -> list[tuple[str, int, int]]:
    """Names and numbers (runs of them joined: "Ilona Varga", "March 2019") with their token positions; a
    sentence's capitalised first word is a name when the next word is one too, or ``known`` has it. ``by_kind``:
    a run of names and a run of numbers are two anchors ("In 1342 Fenhurst": 1342 and Fenhurst)."""
    toks = tokens(text) if toks is None else toks
    first_is_name = len(toks) > 1 and (toks[1].is_name or toks[0].norm in known)
    out, k = [], 0
    while k < len(toks):
        t = toks[k]
        is_anchor = t.content and (t.is_number or (t.is_name and (k > 0 or first_is_name)))
        if not is_anchor:
            k += 1
            continue
        j = k
        while j + 1 < len(toks) and toks[j + 1].content and (toks[j + 1].is_number or toks[j + 1].is_name) and \
                not (by_kind and toks[j + 1].is_number != t.is_number):
            j += 1
        out.append((" ".join(x.norm for x in toks[k:j + 1]), k, j))
        k = j + 1
    return out


def _contexts(text: str, known: set[str], reach: int = 3) -> dict[str, set[tuple[str, str]]]:
    """For each anchor, the content and role words within ``reach`` tokens on either side, tagged by side."""
    toks = tokens(text)
    spans = _anchor_spans(text, known)
    inside = {i for _, a, b in spans for i in range(a, b + 1)}
    out: dict[str, set[tuple[str, str]]] = {}
    for name, a, b in spans:
        ctx = out.setdefault(name, set())
        for side, rng in (("L", range(max(0, a - reach), a)), ("R", range(b + 1, min(len(toks), b + 1 + reach)))):
            for i in rng:
                t = toks[i]
                if i not in inside and (t.content or t.norm in _ROLE_WORDS):
                    ctx.add((side, t.norm))
    return out


def _spelling(text: str, known: set[str]) -> dict[str, str]:
    """Each anchor's normalised form -> how the text spells it ("tamá böröcz" -> "Tamás Böröcz")."""
    return {name: ext[0] for name, ext in _extents(text, known).items()}


def role_swaps(claim: str, sentence: str) -> list[str]:
    """Pairs of names or numbers whose surroundings changed places between claim and source.

    Each anchor's neighbouring words (its verb, its preposition: "Varga synthesised", "from 68 to 92") move
    with it when a sentence is reordered or paraphrased, but trade places when roles are swapped. A pair is
    swapped when the claim's neighbours of A match the source's neighbours of B (and vice versa) by at least
    two words more than they match their own."""
    known = _names(claim) | _names(sentence)
    c_ctx, s_ctx = _contexts(claim, known), _contexts(sentence, known)
    # "A married B" says "B married A": around a verb of two equal partners, places say nothing of roles
    mutual = {t.norm for t in tokens(claim)} & {t.norm for t in tokens(sentence)} & _SYMMETRIC
    shared = [a for a in c_ctx if a in s_ctx] if not mutual else []
    shown = _spelling(claim, known)
    out = []
    for i, a in enumerate(shared):
        for b in shared[i + 1:]:
            if _is_number_anchor(a) != _is_number_anchor(b):
                continue  # a name and a number (or a date: "May 2020") do not trade roles
            same = len(c_ctx[a] & s_ctx[a]) + len(c_ctx[b] & s_ctx[b])
            cross = len(c_ctx[a] & s_ctx[b]) + len(c_ctx[b] & s_ctx[a])
            if cross >= same + 2:
                out.append(f"{shown.get(a, a)} and {shown.get(b, b)}")
    return list(dict.fromkeys(out + pairing_swaps(claim, sentence, known) + pivot_swaps(claim, sentence, known)))


_PAST_IRREGULAR = frozenset("won led wrote took made gave sold bought held built began became brought sent lost paid told "
                            "said found left kept ran beat chose drew drove fought grew hid hit knew lent met rode rose "
                            "sank shot spent stood struck swore taught threw withdrew".split())
_CLAUSE_GAP = re.compile(r"[,;:]|\b(?:while|but|whereas|although)\b", re.IGNORECASE)
PIVOT_REACH = 10  # tokens on each side of a verb where its subject and object are looked for


def _typed_anchors(text: str, toks, known: set[str]) -> list[tuple[str, bool, int, int, str]]:
    """Runs of names and runs of numbers, each its own anchor, with (norm, is_number, first token, last token,
    spelling)."""
    return [(name, toks[a].is_number, a, b, text[toks[a].start:toks[b].end])
            for name, a, b in _anchor_spans(text, known, by_kind=True, toks=toks)]


def _pivots(toks) -> dict[str, int]:
    """Verbs that stand once in the text (a past form, an irregular past, or after "to"): word -> position."""
    seen: dict[str, list[int]] = {}
    for i, t in enumerate(toks):
        if t.content and not t.is_name and not t.is_number:
            word = t.text.lower()
            if word.endswith("ed") or word in _PAST_IRREGULAR or (i and toks[i - 1].norm == "to"):
                seen.setdefault(t.norm, []).append(i)
    return {w: at[0] for w, at in seen.items() if len(at) == 1}


_SYMMETRIC = frozenset("married met merged drew tied played fought shared debated partnered collaborated competed "
                       "allied clashed corresponded negotiated".split())


def _passive_or_mutual(toks, i: int) -> bool:
    """A verb with "by" after it (a passive: "the broker acquired in 2020 by Helvora") or with a partner
    ("merged with"): the order of the names around it says nothing about roles."""
    after = [t.norm for t in toks[i + 1:i + 1 + PIVOT_REACH]]
    return "by" in after or (bool(after) and after[0] == "with")


def _verb_sides(text: str, toks, anchors, i: int) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """The anchors before and after token ``i`` in its clause, within ``PIVOT_REACH`` tokens: norm -> (is_number,
    distance from the verb, spelling, whether it modifies a word after it)."""
    gaps = [m.start() for m in _CLAUSE_GAP.finditer(text)]

    def apart(a: int, b: int) -> bool:
        lo, hi = sorted((toks[a].start, toks[b].start))
        return any(lo < g < hi for g in gaps)

    def modifier(b: int) -> bool:  # "Swiss" in "the Swiss insurer": a lower-case word follows it in its phrase
        return b + 1 < len(toks) and b + 1 != i and toks[b + 1].content and toks[b + 1].text[:1].islower()

    left = {n: (num, i - b, shown, modifier(b)) for n, num, a, b, shown in anchors
            if b < i and i - b <= PIVOT_REACH and not apart(b, i)}
    right = {n: (num, a - i, shown, modifier(b)) for n, num, a, b, shown in anchors
             if a > i and a - i <= PIVOT_REACH and not apart(i, a)}
    return left, right


def pivot_swaps(claim: str, sentence: str, known: set[str] = frozenset()) -> list[str]:
    """Names (or numbers) on opposite sides of the same verb: "Baltera Bank agreed to acquire ... Kvikk" where the
    source has "Kvikk agreed to acquire ... Baltera Bank". A paraphrase that moves a name keeps the verb between
    the same two (or changes the voice, which ``compare`` checks first); a swap puts the one before it after it
    and the other after it before it. Both of one kind: a date moved around the verb is a rewording."""
    c_toks, s_toks = tokens(claim), tokens(sentence)
    c_anchors, s_anchors = _typed_anchors(claim, c_toks, known), _typed_anchors(sentence, s_toks, known)
    c_piv, s_piv = _pivots(c_toks), _pivots(s_toks)
    out, seen = [], set()
    for verb in sorted(c_piv.keys() & s_piv.keys()):
        if verb in _SYMMETRIC or any(_passive_or_mutual(t, i) for t, i in ((c_toks, c_piv[verb]), (s_toks, s_piv[verb]))):
            continue  # "A married B" is "B married A"; "was acquired in 2020 by A" names the buyer after the verb
        c_left, c_right = _verb_sides(claim, c_toks, c_anchors, c_piv[verb])
        s_left, s_right = _verb_sides(sentence, s_toks, s_anchors, s_piv[verb])
        before = [a for a in c_left if a in s_right and a not in s_left]
        after = [b for b in c_right if b in s_left and b not in s_right]
        # the pair nearest the verb, names that head their phrase first ("the Swiss insurer Helvora": Helvora)
        pairs = sorted((c_left[a][3] + c_right[b][3], c_left[a][1] + c_right[b][1], a, b)
                       for a in before for b in after if c_left[a][0] == c_right[b][0])
        if pairs and frozenset(pairs[0][2:]) not in seen:
            a, b = pairs[0][2:]
            seen.add(frozenset((a, b)))
            out.append(f"{c_left[a][2]} and {c_right[b][2]}")
    return out


def misattributions(claim: str, source: str) -> list[str]:
    """Names the claim puts where the source has another name: the claim's words around A are the source's
    words around B ("'... the bodyguard,' Böröcz told reporters" where the source has Varga told them), by at
    least two words more than the source's words around A itself."""
    known = _names(claim) | _names(source)
    c_ctx, s_ctx = _contexts(claim, known), _contexts(source, known)
    shown, source_shown = _spelling(claim, known), _spelling(source, known)
    at = {}  # where each anchor stands in the source
    for name, a, b in _anchor_spans(source, known):
        at.setdefault(name, []).append((a, b))

    def beside(x: str, y: str) -> bool:
        """``y`` stands only in ``x``'s noun phrase ("the Dutch broker Kanto"): a claim that drops "Dutch" gives
        Kanto the context Dutch had, and that is no other speaker or agent."""
        return bool(at.get(y)) and all(any(abs(a2 - b1) <= SLOT_REACH or abs(a1 - b2) <= SLOT_REACH
                                           for a1, b1 in at.get(x, ())) for a2, b2 in at[y])

    out = []
    for a, ctx in c_ctx.items():
        if a not in s_ctx or _is_number_anchor(a):
            continue
        own = len(ctx & s_ctx[a])
        rival = max(((len(ctx & s_ctx[b]), b) for b in s_ctx if b != a and not _is_number_anchor(b)
                     and b not in c_ctx and not beside(a, b)), default=(0, ""))
        if rival[0] >= own + 2:
            out.append(f"{shown.get(a, a)} where the source has {source_shown.get(rival[1], rival[1])}")
    return out


_QUOTED = re.compile(r"“([^”]{12,600})”|\"([^\"]{12,600})\"|(?<![A-Za-z])'([^']{12,600}?)'(?![A-Za-z])|‘([^’]{12,600})’")


def _quotes(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), next(g for g in m.groups() if g)) for m in _QUOTED.finditer(text)]


_SPEECH = frozenset("said says say told tells wrote writes called calls admitted admits warned warns added adds "
                    "explained explains argued argues stated states declared declares noted notes insisted insists "
                    "recalled recalls replied replies remarked remarks described describes".split())
SPEAKER_REACH = 4  # tokens before a speech verb (or after it, "..., said X") that name who speaks


def _speakers(text: str, toks, quote: tuple[int, int]) -> tuple[set[str], set[str], str]:
    """Who speaks a quote in ``text``: (their names, every content word of their phrases, the names as
    spelled). A speaker stands just before a speech verb outside the quote ("Project director Gwen Adeyemi
    called"), or just after it where nothing comes before ("..., said Varga"); whoever is told ("told Reuters")
    is not one."""
    inside = [quote[0] <= t.start < quote[1] for t in toks]
    names, words, shown = set(), set(), []
    for i, t in enumerate(toks):
        if t.norm not in _SPEECH or inside[i]:
            continue
        before = [k for k in range(max(0, i - SPEAKER_REACH), i) if not inside[k] and toks[k].content]
        after = [k for k in range(i + 1, min(len(toks), i + 1 + SPEAKER_REACH)) if not inside[k]]
        for k in before or ([] if t.norm in ("told", "tells") else after):
            u = toks[k]
            if u.content and not u.is_number and u.norm not in _SPEECH:
                words.add(u.norm)
                if u.is_name and (k > 0 or (k + 1 < len(toks) and toks[k + 1].is_name)):
                    names.add(u.norm)
                    shown.append(u.text)
    return names, words, " ".join(dict.fromkeys(shown))


def quote_speakers(claim: str, source: str) -> list[tuple[str, str]]:
    """(the source's speaker, the source's sentence) where the claim gives a quote of the source to someone
    else: the claim says who speaks it (a speech verb beside the quote), and neither names nor describes the
    source's speaker ("One of the divers called the mines 'the one thing no survey had warned us about'" where
    Gwen Adeyemi said it). A surname alone, or the speaker's role ("the project director"), keeps it; a title in
    quotes ("published 'A Tale of Two Cities'") has no speech verb and is no quote to check."""
    out = []
    claim_quotes = _quotes(claim)
    if not claim_quotes:
        return out  # (most claims: the source is not split into sentences for them)
    sentences = [source[a:b] for a, b in sentence_spans(source)] or [source]
    c_toks = tokens(claim)
    for a, b, quote in claim_quotes:
        words = _content(quote)
        c_names, c_words, _ = _speakers(claim, c_toks, (a, b))
        if len(words) < 3 or not c_words:
            continue  # no speaker said in the claim: nothing to contradict
        for sentence in sentences:
            for sa, sb, theirs in _quotes(sentence):
                if len(words & _content(theirs)) < 0.8 * len(words):
                    continue
                s_names, s_words, shown = _speakers(sentence, tokens(sentence), (sa, sb))
                if not s_names:
                    continue  # "She wrote ...": who she is lies in another sentence
                same = c_names & s_names if c_names else c_words & s_words
                if not same:
                    out.append((shown, sentence))
    return out


SLOT_REACH = 3  # words on each side of a name or number that make its slot ("born in _", "in _ to study")


def _slots(text: str, known: set[str], skip_numbers: bool = True) -> dict[str, dict[tuple[str, str], int]]:
    """Each anchor's slot: the nearest ``SLOT_REACH`` words on either side, other numbers skipped, names and
    function words kept, tagged by side, each with its rank from the anchor (1: next to it) ("won the Nobel
    Prize in Physics in 1905": 1905's left words are in, physics, in)."""
    toks = tokens(text)
    spans = _anchor_spans(text, known)
    numbers = {i for name, a, b in spans if skip_numbers and _is_number_anchor(name) for i in range(a, b + 1)}
    out: dict[str, dict[tuple[str, str], int]] = {}
    for name, a, b in spans:
        slot = out.setdefault(name, {})
        for side, rng in (("L", range(a - 1, -1, -1)), ("R", range(b + 1, len(toks)))):
            kept = islice((toks[i].norm for i in rng if i not in numbers), SLOT_REACH)
            for rank, w in enumerate(kept, 1):
                slot[(side, w)] = min(rank, slot.get((side, w), rank))
    return out


def _closeness(a: dict[tuple[str, str], int], b: dict[tuple[str, str], int]) -> float:
    """Shared slot words weighted by how near both anchors they stand (1 beside both, 1/2 one word further...):
    'freezes at 10 degrees' is nearer 'freezes at 0 degrees' than 'water boils at 100 degrees'."""
    return sum(1.0 / max(a[k], b[k]) for k in a.keys() & b.keys())


def substitutions(claim: str, sentence: str, evidence: str, names_only: bool = False) -> list[tuple[str, str]]:
    """(claim's value, source's value) pairs: a name or number of the claim that ``evidence`` does not hold,
    whose slot in the claim is the slot of a value of the same kind in ``sentence`` that the claim does not
    hold, by at least two words, one of them a content word or a name ("born in Vienna" against "born in
    Warsaw", "the Nobel Prize in Physics in 1905" against "... in Physics in 1903 and ... in Chemistry in 1911").

    A number is no substitution where the claim hedges ("about 1,500"), rounds the source's value ("$120
    million" for "$118.6 million"), names a decade ("the 1860s") or gives the value in another form ("1.5
    million" for "1,500,000"); a month name counts only capitalised ("may" is a verb)."""
    known = _names(claim) | _names(sentence)
    c_slots, s_slots = _slots(claim, known), _slots(sentence, known)
    # ties ("in Biology in 1903" against "in Physics in 1903 and ... in Chemistry in 1911") go to the value whose
    # slot also holds the claim's numbers, then to the one whose shared words stand nearer ("freezes at 10
    # degrees" against "boils at 100 degrees ... freezes at 0 degrees": 0, not 100)
    c_near, s_near = _slots(claim, known, skip_numbers=False), _slots(sentence, known, skip_numbers=False)
    e_words, e_values = {t.norm for t in tokens(evidence)}, number_values(evidence)
    c_toks = tokens(claim)
    c_words = {t.norm for t in c_toks}
    content = {t.norm for t in c_toks if t.content and not t.is_number}
    c_ext, s_ext = _extents(claim, known), _extents(sentence, known)
    hedged = bool(_HEDGE.search(claim))
    out = []
    for a, slot in c_slots.items():
        number = _is_number_anchor(a)
        if number and names_only:
            continue
        spelled, with_next, glued = c_ext[a]
        if all(w in e_words for w in a.split()) or not _real_value(a, spelled):
            continue  # the evidence holds it; or a "may" that is no month
        if number and (hedged or glued or (number_values(with_next) | number_values(spelled)) & e_values):
            continue  # hedged, a decade or "5th", or the evidence holds the value in another form
        best = max(((len(slot.keys() & s_slots[b].keys()), len(c_near[a].keys() & s_near[b].keys()),
                     _closeness(slot, s_slots[b]), b) for b in s_slots
                    if _is_number_anchor(b) == number and not all(w in c_words for w in b.split())
                    and _real_value(b, s_ext[b][0]) and not (number and _rounds_to(s_ext[b][0], spelled))
                    and slot.keys() & s_slots[b].keys() & {(side, w) for side in "LR" for w in content}),
                   default=(0, 0, 0.0, ""))
        if best[0] >= 2:
            out.append((spelled, s_ext[best[-1]][0]))
    return out


def _extents(text: str, known: set[str]) -> dict[str, tuple[str, str, bool]]:
    """Each anchor's (spelling, spelling with the word after it, whether a letter is glued to its end)."""
    toks = tokens(text)
    out = {}
    for name, a, b in _anchor_spans(text, known):
        start, end = toks[a].start, toks[b].end
        after = toks[b + 1].end if b + 1 < len(toks) else end
        out[name] = (text[start:end], text[start:after], text[end:end + 1].isalpha())  # the last, as spelled
    return out


def _real_value(anchor: str, spelled: str) -> bool:
    """A month name is a date only capitalised or beside a number ("May 2019", not "patients may develop")."""
    return any(ch.isdigit() for ch in anchor) or anchor.split()[0] not in _MONTHS or spelled[:1].isupper()


def _rounds_to(source: str, claim: str) -> bool:
    """The claim's number is the source's rounded to the claim's precision ("120" for "118.6", "1,500" for
    "1,512")."""
    try:
        s_val, c_text = float(source.replace(",", "")), claim.replace(",", "")
        c_val = float(c_text)
    except ValueError:
        return False
    digits = c_text.lstrip("-0").replace(".", "")
    sig = len(digits.rstrip("0")) if "." not in c_text else len(digits.lstrip("0"))
    return s_val != c_val and sig > 0 and float(f"{s_val:.{sig}g}") == c_val


def _is_number_anchor(anchor: str) -> bool:
    return any(ch.isdigit() for ch in anchor) or anchor.split()[0] in _MONTHS


def _clause_pairs(text: str, known: set[str]) -> set[tuple[str, str]]:
    """(number, name) anchors that stand in one clause: which date or amount goes with which thing."""
    pairs = set()
    bounds = [0] + [m.start() for m in _CLAUSE_END.finditer(text)] + [len(text)]
    for a, b in zip(bounds, bounds[1:]):
        anchors = {x for x, _, _ in _anchor_spans(text[a:b], known)}
        nums = {x for x in anchors if _is_number_anchor(x)}
        pairs.update((n, m) for n in nums for m in anchors - nums)
    return pairs


def pairing_swaps(claim: str, sentence: str, known: set[str] = frozenset()) -> list[str]:
    """A number paired with a different name than in the source, where the source pairs each of the two with
    another ("in 1911 the Nobel Prize in Physics" where the source has "Physics in 1903 ... Chemistry in 1911")."""
    c_pairs, s_pairs = _clause_pairs(claim, known), _clause_pairs(sentence, known)
    shown = _spelling(claim, known)
    out = []
    for n, m in sorted(c_pairs - s_pairs):
        other_name = any(n2 == n and m2 != m for n2, m2 in s_pairs)
        other_number = any(m2 == m and n2 != n for n2, m2 in s_pairs)
        if other_name and other_number:
            out.append(f"{shown.get(n, n)} with {shown.get(m, m)}")
    return out


_NEG_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")
# prefixed words that are no opposites of their stems
_NOT_OPPOSITES = frozenset(frozenset(p) for p in (
    ("flammable", "inflammable"), ("valuable", "invaluable"), ("habitable", "inhabitable"), ("ravel", "unravel"),
    ("loosen", "unloosen"), ("famous", "infamous"), ("press", "impress"), ("form", "inform"), ("sure", "insure"),
    ("vest", "invest"), ("prove", "improve"), ("port", "import"), ("close", "disclose"), ("cover", "discover"),
    ("pose", "impose"), ("tend", "intend"), ("tense", "intense"), ("mission", "dismission"), ("pact", "impact"),
    ("patient", "inpatient"), ("grate", "ingrate"), ("spire", "inspire"), ("sect", "insect"), ("spect", "inspect")))


def slot_antonyms(claim: str, sentence: str) -> list[str]:
    """Claim words whose opposite stands in the same place in the source sentence, between the same words on both
    sides ("drains north through" against "drains south through", "the framework's inner pores" against "the
    framework's outer pores"), though the sentence uses the word itself elsewhere ("enters from the north"); a
    negating prefix makes an opposite too ("felt able to" against "felt unable to")."""
    c_toks, s_toks = tokens(claim), tokens(sentence)
    c_words = {t.norm for t in c_toks}
    out = []
    for i, t in enumerate(c_toks):
        opposite = ANTONYM.get(t.norm, set()) - c_words
        if t.content and len(t.norm) >= 4 and t.norm.isalpha():  # a negating prefix: able / unable, legal / illegal
            opposite = opposite | ({p + t.norm for p in _NEG_PREFIXES} | {t.norm[len(p):] for p in _NEG_PREFIXES
                                                                          if t.norm.startswith(p)}) - c_words
        if not opposite:
            continue
        for j, u in enumerate(s_toks):
            if u.norm not in opposite or frozenset((t.norm, u.norm)) in _NOT_OPPOSITES:
                continue
            left = i > 0 and j > 0 and c_toks[i - 1].norm == s_toks[j - 1].norm
            right = i + 1 < len(c_toks) and j + 1 < len(s_toks) and c_toks[i + 1].norm == s_toks[j + 1].norm
            if left and right:
                out.append(t.text)
                break
    return out


def _content(text: str) -> set[str]:
    return {t.norm for t in tokens(text) if t.content}


def shortened(sentence: str) -> str:
    """A source sentence as a reason quotes it: at most 200 characters."""
    return sentence if len(sentence) <= 200 else sentence[:197] + "..."


def compare(claim: str, sentence: str, window: str, source_words: frozenset | set, nearby: str = "") -> Alignment:
    """Mismatch signals between a claim, its best-aligned source sentence and the window around it
    (``nearby``: the text of every window the claim was checked against, where a fused fact's names may be)."""
    signals = dict.fromkeys(ALIGNMENT_FEATURES + LABEL_SIGNALS, 0.0)
    reasons: list[str] = []  # in the order the checks run
    contra: list[str] = []  # those of them that say what the source says otherwise

    def contradicts(reason: str) -> None:
        reasons.append(reason)
        contra.append(reason)
    quote = shortened(sentence)
    c_toks = tokens(claim)
    w_words = {t.norm for t in tokens(window)}
    c_words = {t.norm for t in c_toks}

    # a negation flip contradicts where the claim keeps the sentence's words; a reworded claim with a negation
    # ("no longer supports" for "dropped support") is a paraphrase more often than not
    flipped_neg = negation_flips(claim, sentence) if content_coverage(claim, sentence) >= NEGATION_COVERAGE else []
    if flipped_neg:
        signals["negation_mismatch"] = 1.0
        contradicts(f"negation differs from the source about {', '.join(flipped_neg)}; it says: '{quote}'")

    flipped = sorted({t.text for t in c_toks if t.norm not in w_words and ANTONYM.get(t.norm, set()) & w_words
                      and not ANTONYM.get(t.norm, set()) & c_words} | set(slot_antonyms(claim, sentence)))
    if flipped:
        signals["antonym_mismatch"] = float(len(flipped))
        contradicts(f"the source says the opposite of {', '.join(flipped)}: '{quote}'")

    c_nums, w_nums = number_values(claim), number_values(window)
    missing_nums = sorted(c_nums - w_nums)
    if missing_nums and w_nums:
        signals["number_mismatch"] = float(len(missing_nums))
        reasons.append(f"numbers not in the cited evidence: {', '.join(missing_nums)} (it gives "
                       f"{', '.join(sorted(w_nums)[:5])})")

    near = w_words | {t.norm for t in tokens(nearby)} if nearby else w_words
    moved = sorted({t.text for t in name_tokens(c_toks) if t.norm not in near and t.norm in source_words})
    if moved:
        signals["name_mismatch"] = float(len(moved))
        reasons.append(f"{', '.join(moved)} appear in the sources, but not where this claim's facts are")

    quoted = quote_speakers(claim, nearby or window)
    if quoted:
        signals["order_swap"] = 1.0
        contradicts(f"the source gives these words to {quoted[0][0]}: '{shortened(quoted[0][1])}'")
    if bool(_PASSIVE_BY.search(claim)) == bool(_PASSIVE_BY.search(sentence)) and not quoted:
        swapped = role_swaps(claim, sentence) + misattributions(claim, nearby or window)
        if swapped:
            signals["order_swap"] = 1.0
            contradicts(f"roles look swapped ({' / '.join(swapped)}): the source pairs them the other way "
                           f"round: '{quote}'")

    subs = substitutions(claim, sentence, nearby or window)
    if subs:
        signals["value_substitution"] = float(len(subs))
        said = "; ".join(f"{theirs} where this says {ours}" for ours, theirs in subs)
        contradicts(f"the source says {said}: '{quote}'")
    # a name the sources hold elsewhere, standing in the slot where the cited sentence has another name ("the
    # siege of Valmora" where it says "the siege of Seltz", a quote given to the wrong speaker): the claim put a
    # fact on the wrong name. Names only: a fused claim's number often comes from the next sentence.
    displaced = [(ours, theirs) for ours, theirs in substitutions(claim, sentence, sentence, names_only=True)
                 if all(ours != o for o, _ in subs)  # (one name said two ways: "Abraham Lincoln", "President Lincoln")
                 and not {_norm(w) for w in ours.split()} & {_norm(w) for w in theirs.split()}]
    if displaced:
        signals["order_swap"] = 1.0
        said = "; ".join(f"{theirs} where this says {ours}" for ours, theirs in displaced)
        contradicts(f"the source names another: it says {said}: '{quote}'")

    # a quantifier contradicts where the source quantifies differently (its own quantifier or a hedge such as
    # "up to", "about"); an "every day" for "daily" in a source without one is a rewording
    c_quant = {t.norm for t in c_toks if t.norm in QUANTIFIER_WORDS and t.norm not in _WEAK_QUANTIFIERS}
    s_quant = {t.norm for t in tokens(sentence) if t.norm in QUANTIFIER_WORDS}
    hedged = bool(s_quant) or bool(_HEDGE.search(sentence))
    extra_quant = sorted(c_quant - s_quant - w_words) if hedged else []
    if extra_quant:
        signals["quantifier_mismatch"] = float(len(extra_quant))
        reasons.append(f"quantifier not in the source: {', '.join(extra_quant)}")

    c_sides, s_sides = _cause_effect(claim), _cause_effect(sentence)
    if c_sides and s_sides:
        (c_cause, c_effect), (s_cause, s_effect) = c_sides, s_sides
        same = len(c_cause & s_cause) + len(c_effect & s_effect)
        crossed = len(c_cause & s_effect) + len(c_effect & s_cause)
        if crossed > same and crossed >= 2:
            signals["causal_reversal"] = 1.0
            contradicts(f"cause and effect are the other way round in the source: '{quote}'")
    return Alignment(signals, tuple(reasons), tuple(contra))


# connectives after which the cause comes ("A because B"); before the others it comes first ("A caused B")
_EFFECT_FIRST = frozenset({"because", "because of", "due to", "as a result of", "owing to"})
_FRONTED = re.compile(r"^\s*(" + "|".join(sorted(_EFFECT_FIRST, key=len, reverse=True)) + r")\s+([^,\s][^,]*),\s*(.+)$",
                      re.IGNORECASE)


def _cause_effect(text: str) -> tuple[set[str], set[str]] | None:
    """(cause words, effect words) of a causal sentence: "A caused B", "A, which is why B", "B because A", and
    a fronted "Because A, B"."""
    fronted = _FRONTED.match(text)
    if fronted:
        return _content(fronted.group(2)), _content(fronted.group(3))
    m = _CAUSAL_RE.search(text)
    if not m:
        return None
    before, after = _content(text[:m.start()]), _content(text[m.end():])
    passive = re.match(r"\s+by\b", text[m.end():], re.IGNORECASE)  # "the flood was caused by heavy rain"
    return (after, before) if (m.group(1).lower() in _EFFECT_FIRST) != bool(passive) else (before, after)


def content_coverage(claim: str, window: str) -> float:
    """Share of the claim's content words (stemmed) found in a window: how well the window aligns."""
    c = _content(claim)
    if not c:
        return 0.0
    w = {_norm(t.text) for t in tokens(window)}
    return len(c & w) / len(c)
