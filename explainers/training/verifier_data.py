"""The claim verifier's training data: (evidence, claim, label) pairs made by code from plain passages.

In the spirit of FactCC and Falsesum: every pair starts from a sentence of a passage, and a transformation
says what the claim is relative to the evidence. No file of generated rows is kept; the recipe is this code
and a seed. Labels: 0 entailed, 1 contradicted, 2 neutral (not enough information).

Transformations that change meaning are also applied to the *evidence* with the same edit on the claim
(both negated, both with the swapped number...), labelled entailed. Without these the model learns a cue
("a claim with 'not' is false") instead of comparing the claim with the evidence.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import InputError
from ..retrieval.grounding.lexicon import ANTONYMS, QUANTIFIERS
from ..text.aggregate import sentence_spans

ENTAILED, CONTRADICTED, NEUTRAL = 0, 1, 2
LABELS = ("entailed", "contradicted", "neutral")


@dataclass(frozen=True)
class Pair:
    evidence: str
    claim: str
    label: int
    kind: str


# ---------------------------------------------------------------------------------------------- passages
def passages_from_jsonl(path: str | Path, field: str = "text", min_words: int = 12) -> list[list[str]]:
    """Each passage as its list of sentences (sentences of 5-70 words kept)."""
    out = []
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise InputError(f"{path}:{n}: not UTF-8 text") from None
            except (ValueError, RecursionError):
                raise InputError(f"{path}:{n}: not a JSON object per line") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{n}: each line must be a JSON object with a {field!r} field")
            text = row.get(field, "")
            if not isinstance(text, str):
                raise InputError(f"{path}:{n}: {field!r} must be a string")
            if len(text.split()) < min_words:
                continue
            sents = split_sentences(text)
            if sents:
                out.append(sents)
    return out


def passages_from_texts(texts: Iterable[str]) -> list[list[str]]:
    out = []
    for text in texts:
        sents = split_sentences(text)
        if sents:
            out.append(sents)
    return out


_VERBISH = re.compile(r"\b(is|are|was|were|has|have|had|became|remains|[a-z]{3,}ed|[a-z]{3,}s)\b")


def split_sentences(text: str) -> list[str]:
    """Prose sentences (5-50 words, with a verb-like word, not a list of names)."""
    sents = []
    for a, b in sentence_spans(text):
        s = " ".join(text[a:b].split()).lstrip("#").strip()
        words = s.split()
        if not (5 <= len(words) <= 50 and s[0].isalnum() and _VERBISH.search(s)):
            continue
        if s.count(";") > 1 or s.count(",") > len(words) / 4 or "&" in s:
            continue
        if sum(w[0].isupper() for w in words) > 0.6 * len(words):
            continue
        sents.append(s if s[-1] in ".!?" else s + ".")
    return sents


# ------------------------------------------------------------------------------------------ word edits
_NUM = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w])")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b([A-Z][a-z]+(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][a-z]+)*)")
_AUX = re.compile(r"\b(is|are|was|were|has|have|had|can|will|would|could|should|may|must|does|do|did)\b")
_NEG = re.compile(r"\b(is|are|was|were|has|have|had|can|will|would|could|should|does|do|did) not\b|\bnever\b|"
                  r"\b(isn't|aren't|wasn't|weren't|hasn't|haven't|hadn't|cannot|won't|doesn't|don't|didn't)\b")
_CONTRACT = {"isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "hasn't": "has",
             "haven't": "have", "hadn't": "had", "cannot": "can", "won't": "will", "doesn't": "does",
             "don't": "do", "didn't": "did"}
_PAST_NEG = re.compile(r"\b([a-z]{3,}ed)\b")

_ANT = {}
for _a, _b in ANTONYMS:
    _ANT.setdefault(_a, _b)
    _ANT.setdefault(_b, _a)

SYNONYMS = [
    ("began", "started"), ("begin", "start"), ("large", "big"), ("largest", "biggest"), ("small", "little"),
    ("important", "significant"), ("main", "principal"), ("major", "key"), ("country", "nation"),
    ("purchased", "bought"), ("received", "got"), ("moved", "relocated"), ("created", "established"),
    ("founded", "established"), ("built", "constructed"), ("ended", "concluded"), ("died", "passed away"),
    ("became", "turned into"), ("helped", "assisted"), ("showed", "demonstrated"), ("used", "employed"),
    ("about", "approximately"), ("nearly", "almost"), ("also", "additionally"),
    ("however", "nevertheless"), ("later", "subsequently"), ("region", "area"), ("people", "individuals"),
    ("rule", "control"), ("ruled", "governed"), ("led", "headed"), ("won", "secured"), ("gained", "obtained"),
    ("caused", "brought about"), ("because of", "owing to"), ("due to", "as a result of"), ("reduced", "cut"),
    ("increased", "raised"), ("quickly", "rapidly"), ("mostly", "largely"), ("often", "frequently"),
    ("attempt", "effort"), ("attempts", "efforts"), ("agreement", "accord"), ("war", "conflict"),
    ("independence", "sovereignty"), ("economy", "economic system"), ("produce", "make"), ("produces", "makes"),
    ("recently", "lately"), ("held", "conducted"), ("elected", "voted in"), ("remains", "stays"),
    ("remained", "stayed"), ("returned", "came back"), ("allowed", "permitted"),
    ("needed", "required"), ("needs", "requires"), ("shows", "indicates"), ("chief", "primary"),
    ("rapid", "fast"), ("significant", "considerable"), ("approximately", "about"), ("established", "set up"),
]
_SYN = {}
for _a, _b in SYNONYMS:
    _SYN.setdefault(_a, _b)
    _SYN.setdefault(_b, _a)

FRAMES = ("According to the source, {}", "The passage says that {}", "The text states that {}",
          "The document notes that {}", "As the source explains, {}", "The passage describes that {}",
          "It is reported that {}", "The source mentions that {}", "In the text, {}", "The article says {}")

_SMALL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
          "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
_CAUSAL = re.compile(r"^(?P<a>.+?)\s+(?P<v>caused|led to|resulted in|triggered|prompted|brought about|"
                     r"produced|gave rise to)\s+(?P<b>.+?)(?P<end>[.!?]?)$")
_BECAUSE = re.compile(r"^(?P<a>.+?),?\s+(?P<v>because of|due to|because|as a result of|following)\s+(?P<b>.+?)"
                      r"(?P<end>[.!?]?)$")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def _decap(s: str) -> str:
    if len(s) > 1 and s[0].isupper() and not s[1].isupper() and not _NAME.match(" " + s.split()[0]):
        first = s.split()[0]
        if first.lower() in {"the", "a", "an", "in", "on", "at", "it", "its", "this", "these", "during", "after",
                             "before", "since", "under", "by", "from", "with", "as", "although", "while", "when",
                             "there", "they", "he", "she", "many", "most", "some", "both", "all"}:
            return s[0].lower() + s[1:]
    return s


def _sub_word(text: str, table: dict[str, str | tuple[str, ...]], rng: random.Random,
              max_edits: int = 1) -> str | None:
    hits = []
    for m in re.finditer(r"\b[A-Za-z]+\b", text):
        w = m.group(0)
        if w[0].isupper() and m.start() > 0 and text[:m.start()].rstrip()[-1:] not in ".!?;:":
            continue  # a capital inside a sentence starts a name ('World War I'): not a word to swap
        if w.lower() in table:
            hits.append((m.start(), m.end(), w))
    for phrase in (k for k in table if " " in k):
        for m in re.finditer(r"\b" + re.escape(phrase) + r"\b", text, flags=re.IGNORECASE):
            hits.append((m.start(), m.end(), m.group(0)))
    if not hits:
        return None
    rng.shuffle(hits)
    chosen, used = [], []
    for a, b, w in hits:
        if any(a < y and b > x for x, y in used):
            continue
        chosen.append((a, b, w))
        used.append((a, b))
        if len(chosen) >= max_edits:
            break
    out = text
    for a, b, w in sorted(chosen, reverse=True):
        rep = table[w.lower()]
        rep = rep if isinstance(rep, str) else rng.choice(rep)
        if w[0].isupper():
            rep = _cap(rep)
        out = out[:a] + rep + out[b:]
    return out if out != text else None


def negate(s: str, rng: random.Random) -> str | None:
    """Insert a negation, or remove the one the sentence has."""
    m = _NEG.search(s)
    if m:
        g = m.group(0)
        if g == "never":
            rep = rng.choice(["always", "once"])
        elif g in _CONTRACT:
            rep = _CONTRACT[g]
        else:
            rep = g[:-4]
        return s[:m.start()] + rep + s[m.end():]
    m = _AUX.search(s)
    if m:
        word = m.group(0)
        neg = rng.choice([" not", " not", " never"]) if word in ("is", "are", "was", "were", "has", "have", "had") \
            else " not"
        if rng.random() < 0.15 and word in ("was", "were", "is", "are"):
            neg = " no longer"
        return s[:m.end()] + neg + s[m.end():]
    m = _PAST_NEG.search(s)
    if m and m.start() > 0 and s[m.start() - 1] == " ":
        return s[:m.start()] + rng.choice(["never ", "never ", "reportedly never "]) + m.group(1) + s[m.end():]
    return None


def _numbers(s: str) -> list[re.Match]:
    return list(_NUM.finditer(s))


def _names(s: str) -> list[re.Match]:
    return [m for m in _NAME.finditer(s) if m.group(0).lower() not in {"the", "in", "it", "its", "this"}]


def _other_number(tok: str, pool: Sequence[str], rng: random.Random) -> str:
    plain = tok.replace(",", "")
    is_year = re.fullmatch(r"1[5-9]\d\d|20[0-4]\d", plain) is not None
    same_kind = [p for p in pool if p != tok and (re.fullmatch(r"1[5-9]\d\d|20[0-4]\d", p.replace(",", ""))
                                                   is not None) == is_year]
    if same_kind and rng.random() < 0.5:
        return rng.choice(same_kind)
    if is_year:
        return str(int(plain) + rng.choice([-1, 1]) * rng.randint(1, 30))
    try:
        value = float(plain)
    except ValueError:
        return tok
    new = value * rng.choice([0.5, 2, 3, 1.5, 0.25, 10, 0.1]) if value > 3 else value + rng.randint(1, 5)
    if "." in plain:
        text = f"{new:.{len(plain.split('.')[1])}f}"
    else:
        text = str(int(round(new)))
        if "," in tok and len(text) > 3:
            text = f"{int(text):,}"
    return text if text != tok else str(int(value) + 7)


def swap_number(s: str, pool: Sequence[str], rng: random.Random) -> str | None:
    nums = _numbers(s)
    if not nums:
        return None
    m = rng.choice(nums)
    new = _other_number(m.group(0), pool, rng)
    return s[:m.start()] + new + s[m.end():] if new != m.group(0) else None


def swap_within(s: str, rng: random.Random) -> str | None:
    """Swap two numbers or two names inside one sentence (role swap; 'physics in 1903 and chemistry in 1911')."""
    for items in rng.sample([_numbers(s), _names(s)], 2):
        distinct = {m.group(0) for m in items}
        if len(distinct) >= 2:
            a, b = rng.sample([m for m in items], 2)
            if a.group(0) == b.group(0):
                continue
            if a.start() > b.start():
                a, b = b, a
            return s[:a.start()] + b.group(0) + s[a.end():b.start()] + a.group(0) + s[b.end():]
    return None


def swap_entity(s: str, pool: Sequence[str], rng: random.Random, near: str = "") -> str | None:
    names = _names(s)
    if not names:
        return None
    m = rng.choice(names)
    others = [p for p in pool if p != m.group(0) and p not in s]
    if not others:
        return None
    if near:  # a name the evidence itself mentions elsewhere is the hard, common case
        close = [p for p in others if p in near]
        others = close or others
    return s[:m.start()] + rng.choice(others) + s[m.end():]


def reverse_cause(s: str) -> str | None:
    for pattern in (_CAUSAL, _BECAUSE):
        m = pattern.match(s)
        if m and len(m.group("a").split()) >= 2 and len(m.group("b").split()) >= 2:
            a, b = _decap(m.group("a")), m.group("b")
            return _cap(b) + " " + m.group("v") + " " + a + (m.group("end") or ".")
    return None


def quantify(s: str, rng: random.Random) -> str | None:
    table = {a: b for a, b in QUANTIFIERS}
    out = _sub_word(s, table, rng)
    if out is None:
        nums = [m for m in _numbers(s) if not re.fullmatch(r"1[5-9]\d\d|20[0-4]\d", m.group(0))]
        if nums:
            m = rng.choice(nums)
            return s[:m.start()] + rng.choice(["all", "none of the", "only one of the"]) + " " + \
                s[m.start():m.end()].replace(m.group(0), "") + s[m.end():].lstrip()
    return out


def number_words(s: str, rng: random.Random) -> str | None:
    nums = _numbers(s)
    rng.shuffle(nums)
    for m in nums:
        tok = m.group(0)
        plain = tok.replace(",", "")
        if plain.isdigit() and int(plain) <= 20 and not s[m.end():m.end() + 1] == "%":
            return s[:m.start()] + _SMALL[int(plain)] + s[m.end():]
        if "," in tok:
            return s[:m.start()] + plain + s[m.end():]
        if s[m.end():m.end() + 1] == "%":
            return s[:m.end()] + " percent" + s[m.end() + 1:]
    words = [m for m in re.finditer(r"\b(" + "|".join(_SMALL[2:]) + r")\b", s)]
    if words:
        m = rng.choice(words)
        return s[:m.start()] + str(_SMALL.index(m.group(0))) + s[m.end():]
    return None


def first_clause(s: str) -> str | None:
    for sep in ("; ", ", and ", ", but ", ", which ", ", while ", ", although ", " - "):
        if sep in s:
            left = s.split(sep)[0].strip(" ,")
            if len(left.split()) >= 5:
                return left + "."
    return None


def last_clause(s: str) -> str | None:
    if "; " in s:
        right = s.split("; ", 1)[1].strip()
        if len(right.split()) >= 5:
            return _cap(right)
    return None


def drop_details(s: str) -> str | None:
    out = re.sub(r"\s*\([^)]*\)", "", s)
    out = re.sub(r", (?:which|who|whose)[^,]+,", "", out)
    out = re.sub(r"\s+", " ", out).strip()
    return out if out != s and len(out.split()) >= 5 else None


def front_phrase(s: str) -> str | None:
    m = re.match(r"^(?P<main>.+?)\s+(?P<pp>(?:in|during|since|after|before|until) (?:the )?[^,;]{2,30}?)"
                 r"(?P<end>[.!?])$", s)
    # a phrase after a second clause may belong to that clause only ('X in 1580, and Y until 1640'): not moved
    # only a time phrase ('in 1891', 'during the war'), and only out of a one-clause sentence: 'a surge in
    # violent crime' or 'complete a cycle in weeks, because ...' would change meaning
    if m and len(m.group("main").split()) >= 4 and \
            not re.search(r"[,;:()]| and | then |\b(?:because|when|while|if|that|which|who|although|as|before|after|until|since)\b",
                          m.group("main")) and not re.search(r"(?:ing|ed)$", m.group("main")) and \
            re.search(r"\d|\b(?:century|centuries|year|years|decade|decades|war|era|period|reign|January|February|"
                      r"March|April|May|June|July|August|September|October|November|December)\b", m.group("pp")):
        return _cap(m.group("pp")) + ", " + _decap(m.group("main")) + m.group("end")
    return None


# ------------------------------------------------------------------ meaning-preserving restructurings
# Human paraphrases move words around: passive voice, "X's team" for "a team led by X", a date put last.
# Without such positives the verifier learns "words in another order = contradicted" from the role swaps.
_PARTICIPLE = {"built": "built", "made": "made", "led": "led", "won": "won", "sold": "sold", "bought": "bought",
               "took": "taken", "gave": "given", "wrote": "written", "began": "begun", "overthrew": "overthrown",
               "struck": "struck", "held": "held", "hit": "hit", "drew": "drawn", "broke": "broken",
               "chose": "chosen", "brought": "brought", "set": "set", "won over": "won over"}
_REGULAR_PAST = ("acquired", "adopted", "announced", "approved", "banned", "captured", "ceded", "completed",
                 "conquered", "controlled", "created", "defeated", "designed", "destroyed", "developed", "discovered",
                 "elected", "established", "expelled", "financed", "founded", "funded", "granted", "hosted", "imposed",
                 "introduced", "invaded", "launched", "negotiated", "occupied", "opened", "organized", "passed",
                 "produced", "published", "purchased", "ratified", "recognized", "rejected", "replaced", "reported",
                 "ruled", "seized", "settled", "signed", "supported", "unified", "drafted", "colonized", "annexed",
                 "abolished", "absorbed", "administered", "appointed", "awarded", "closed", "constructed",
                 "dominated", "formed", "governed", "implemented", "raised", "reduced", "restored", "revised",
                 "suspended", "united", "used", "visited", "discontinued", "dissolved", "amended", "approved",
                 "confirmed", "criticized", "delivered", "deployed", "described", "dismissed", "ended", "examined",
                 "identified", "inherited", "installed", "issued", "killed", "liberated", "managed", "merged",
                 "named", "nationalized", "ordered", "owned", "privatized", "proclaimed", "recorded", "released",
                 "repealed", "rescued", "shaped", "started", "studied", "surveyed", "treated", "welcomed")
_PASSIVE_VERB = {**{v: v for v in _REGULAR_PAST}, **_PARTICIPLE}
_PREP = r"(?:in|on|at|for|during|after|before|from|with|under|through|until|since|as|to|around|about|between|" \
    r"within|into|over|near|across|following|along|despite|without)"
_NOT_SUBJECT = {"after", "before", "in", "on", "when", "while", "although", "since", "by", "during", "as", "if",
                "because", "under", "from", "with", "following", "despite", "until", "once", "though", "at", "for"}
_NP_START = r"(?:[A-Z][\w'.-]*|the|a|an|its|their|his|her)"
_ACTIVE = re.compile(r"^(?P<subj>" + _NP_START + r"(?: [\w'.-]+){0,6}?) (?P<verb>" +
                     "|".join(sorted(_PASSIVE_VERB, key=len, reverse=True)) + r") (?P<obj>(?:[\w'%.-]+ ){0,7}?[\w'%.-]+)"
                     r"(?P<tail>(?:,? " + _PREP + r" [^;]*)?)(?P<end>[.!?])$")
_PASSIVE = re.compile(r"^(?P<obj>" + _NP_START + r"(?: [\w'.-]+){0,7}?) (?P<aux>was|were) (?P<part>[a-z]+) by "
                      r"(?P<agent>(?:[\w'.-]+ ){0,6}?[\w'.-]+)(?P<tail>(?:,? " + _PREP + r" [^;]*)?)(?P<end>[.!?])$")
_PRONOUNS = {"it", "they", "he", "she", "this", "these", "that", "those", "which", "who", "we", "i", "you", "there"}
_BAD_IN_NP = {"who", "which", "that", "and", "or", "but", "was", "were", "is", "are", "has", "have", "had", "not",
              "also", "then"}


def _plural(np_text: str) -> bool:
    head = np_text.split()[-1]
    if head[:1].isupper() and not np_text.lower().startswith("the "):
        return " and " in f" {np_text} "  # 'Algiers', 'Paris': names ending in s are one place
    head = head.lower()
    return (head.endswith("s") and not head.endswith(("ss", "us", "is", "'s"))) or " and " in f" {np_text} "


def to_passive(s: str) -> str | None:
    """'The French captured Algiers in 1830.' -> 'Algiers was captured by the French in 1830.'"""
    m = _ACTIVE.match(s)
    if not m:
        return None
    subj, obj = m.group("subj"), m.group("obj")
    words = (subj + " " + obj).lower().split()
    # a tail with more clauses may share the subject ('X settled Y in 1650, established Z'): left alone
    if re.search(r"[,;(]| and | but | while | which | who ", m.group("tail")) or \
            subj.split()[0].lower() in _NOT_SUBJECT:
        return None
    if subj.split()[0].lower() in _PRONOUNS or any(w in _BAD_IN_NP for w in words) or \
            obj.split()[0].lower() in _PRONOUNS | _NOT_SUBJECT | {"by", "to", "of", "into", "around", "about"}:
        return None
    aux = "were" if _plural(obj) else "was"
    return _cap(_decap_np(obj)) + f" {aux} {_PASSIVE_VERB[m.group('verb')]} by {_decap_np(subj)}" + \
        m.group("tail") + m.group("end")


def to_active(s: str) -> str | None:
    """'Algiers was captured by the French in 1830.' -> 'The French captured Algiers in 1830.'"""
    m = _PASSIVE.match(s)
    if not m:
        return None
    past = {v: k for k, v in _PARTICIPLE.items()}.get(m.group("part"), m.group("part"))
    if past not in _PASSIVE_VERB:
        return None
    obj, agent = m.group("obj"), m.group("agent")
    words = (obj + " " + agent).lower().split()
    if re.search(r"[,;(]| and | but | while | which | who ", m.group("tail")) or obj.split()[0].lower() in _NOT_SUBJECT:
        return None
    if agent.split()[0].lower() in _PRONOUNS or any(w in _BAD_IN_NP for w in words):
        return None
    return _cap(agent) + f" {past} {_decap_np(obj)}" + m.group("tail") + m.group("end")


def _decap_np(np_text: str) -> str:
    first = np_text.split()[0]
    return np_text[0].lower() + np_text[1:] if first in ("The", "A", "An", "Its", "Their", "His", "Her") else np_text


def voice_role_swap(s: str) -> str | None:
    """'X acquired Y' -> 'X was acquired by Y' (the roles reversed, the words kept): a contradiction."""
    m = _ACTIVE.match(s)
    if not m or not to_passive(s):
        return None
    subj, obj = _decap_np(m.group("subj")), _decap_np(m.group("obj"))
    aux = "were" if _plural(subj) else "was"
    return _cap(subj) + f" {aux} {_PASSIVE_VERB[m.group('verb')]} by {obj}" + m.group("tail") + m.group("end")


_LED_BY = re.compile(r"\b(?P<det>[Aa]n?|[Tt]he) (?P<noun>team|group|coalition|government|delegation|company|firm|"
                     r"party|commission|study|expedition|consortium) (?:led|headed|run) by (?P<name>[A-Z][\w.'-]*"
                     r"(?: [A-Z][\w.'-]*){0,3})")
_POSS = re.compile(r"(?<!and )(?<!of )(?<!the )(?<!The )\b(?P<name>[A-Z][\w.-]*(?: [A-Z][\w.-]*){0,2})'s "
                   r"(?P<np>(?:[a-z][\w-]* )?[a-z][\w-]*)(?=[,.;:)]| (?:is|was|are|were|has|had|have|in|of|on|at|"
                   r"for|to|and|with|from|by|said|says)\b)")
_VERB_WORDS = {"said", "says", "told", "became", "becomes", "won", "wins", "made", "makes", "took", "takes", "led",
               "leads", "gave", "gives", "went", "goes", "grew", "grows", "fell", "falls", "rose", "rises", "began",
               "begins", "remains", "lies", "holds", "held", "saw", "sees", "can", "will", "would", "may", "must"}
_OF_NAME = re.compile(r"\b(?P<the>[Tt]he) (?P<np>(?:[a-z][\w-]* ){0,2}[a-z][\w-]*) of (?P<name>[A-Z][\w.-]*"
                      r"(?: [A-Z][\w.-]*){0,2})(?=[,.;:)]| (?:is|was|are|were|has|had|have|in|on|at|for|to|with|"
                      r"from|by|said|says)\b)")


# 'the capital of Yerevan' names the capital (Yerevan is it): not "Yerevan's capital"
_APPOSITIVE_OF = {"capital", "city", "town", "island", "islands", "province", "region", "state", "country", "port",
                  "village", "river", "lake", "kingdom", "republic", "county", "district", "parish", "area", "name",
                  "word", "words", "term", "title", "sultanate", "emirate", "principality", "territory",
                  "colony", "protectorate", "peninsula", "archipelago", "bay", "gulf", "sea", "strait", "mountain",
                  "mountains", "dependency", "commonwealth", "federation", "union", "duchy", "municipality"}


def possessive_swap(s: str, rng: random.Random) -> str | None:
    """'a team led by X' <-> "X's team"; "Kvikk's chief executive" <-> 'the chief executive of Kvikk'."""
    options = []
    m = _LED_BY.search(s)
    if m:
        options.append(s[:m.start()] + f"{m.group('name')}'s {m.group('noun')}" + s[m.end():])
    m = _POSS.search(s)
    if m and "." not in m.group("name") and \
            not any(w in _BAD_IN_NP or w in _VERB_WORDS or w.endswith("ed") for w in m.group("np").split()):
        the = "The" if m.start() == 0 else "the"
        options.append(s[:m.start()] + f"{the} {m.group('np')} of {m.group('name')}" + s[m.end():])
    m = _OF_NAME.search(s)
    if m and "." not in m.group("name") and not any(w in _BAD_IN_NP for w in m.group("np").split()) and \
            m.group("np").split()[-1] not in _APPOSITIVE_OF:
        owner = m.group("name") + ("'" if m.group("name").endswith("s") else "'s")
        options.append(s[:m.start()] + f"{owner} {m.group('np')}" + s[m.end():])
    return rng.choice(options) if options else None


_FRONT_PP = re.compile(r"^(?P<pp>(?:In|During|After|Before|On|By|Between|From|As of|At the end of) [^,]{2,40}?), "
                       r"(?P<main>.+?)(?P<end>[.!?])$")


def back_phrase(s: str) -> str | None:
    """'In March 2019, a team reported X.' -> 'A team reported X in March 2019.' (only a phrase with a number)"""
    m = _FRONT_PP.match(s)
    if not m or not re.search(r"\d", m.group("pp")) or not 4 <= len(m.group("main").split()) <= 20 or \
            re.search(r"[,;:(]| and |\b(?:who|which|that|when|while)\b", m.group("main")):
        return None  # put last in a long or many-clause sentence, the phrase would attach to its last clause
    main = m.group("main")
    first = main.split()[0]
    if first.lower() in _PRONOUNS:
        return None
    pp = m.group("pp")
    return _cap(main) + " " + pp[0].lower() + pp[1:] + m.group("end")


_CONJ = re.compile(r"^(?P<a>[^;]+?)(?P<sep>, and |; )(?P<b>[^;]+?)(?P<end>[.!?])$")
_BACKREF = {"it", "its", "they", "their", "this", "these", "he", "she", "his", "her", "which", "then", "later",
            "thereafter", "subsequently", "afterwards", "also", "so", "thus", "there", "as", "that", "those"}


def swap_conjuncts(s: str) -> str | None:
    """'A, and B.' -> 'B, and A.' when both halves are whole clauses and B does not point back at A."""
    m = _CONJ.match(s)
    if not m:
        return None
    a, b = m.group("a").strip(), m.group("b").strip()
    if re.search(r"[,():/]", a + b) or not a[:1].isupper():  # a list ('A, B, and C') or a parenthesis split in two
        return None
    if len(a.split()) < 4 or len(b.split()) < 4 or not _VERBISH.search(a) or not _VERBISH.search(b):
        return None
    if any(w.lower().strip(",") in _BACKREF for w in b.split()[:3] + a.split()[:1]) or \
            re.search(r"\b(then|later|after that|afterwards|before that|same|such|both)\b", b + " " + a, re.I):
        return None
    return _cap(b) + m.group("sep") + _decap(a) + m.group("end")


_REL = re.compile(r", (?:which|who) (?:was|were|is|are) (?=[a-z])")


def reduce_relative(s: str) -> str | None:
    """', which was founded in 1990,' -> ', founded in 1990,'; ', who is a chemist,' -> ', a chemist,'."""
    out = _REL.sub(", ", s, count=1)
    return out if out != s else None


def restructure(s: str, rng: random.Random, min_steps: int = 1) -> str | None:
    """The sentence with its meaning kept and its words moved: passive/active voice, possessives, a dated
    phrase put last or first, coordinated clauses swapped, a relative clause reduced, synonyms; None when no
    restructuring applies."""
    voice = rng.choice([to_passive, to_active])  # one voice change, never there and back
    steps = [lambda x: voice(x) or (to_active(x) if voice is to_passive else to_passive(x)), back_phrase,
             swap_conjuncts, reduce_relative, lambda x: possessive_swap(x, rng), front_phrase]
    rng.shuffle(steps)
    out, done = s, 0
    for step in steps:
        nxt = step(out)
        if nxt and nxt != out:
            out, done = nxt, done + 1
        if done >= 3:
            break
    if done < min_steps:
        return None
    if rng.random() < 0.6:
        out = _sub_word(out, _SYN, rng, max_edits=rng.randint(1, 3)) or out
    return out if out != s else None


def shuffle_words(s: str, rng: random.Random) -> str:
    words = s.rstrip(".!?").split()
    for _ in range(5):
        rng.shuffle(words)
        out = " ".join(words)
        if out != s.rstrip(".!?"):
            break
    return _cap(out) + "."


def to_question(s: str, rng: random.Random) -> tuple[str, str, str] | None:
    """A question made of the sentence with one number or name asked for: (question, answer, wrong answer)."""
    nums, names = _numbers(s), _names(s)
    options = [("num", m) for m in nums] + [("name", m) for m in names]
    if not options:
        return None
    kind, m = rng.choice(options)
    if kind == "num":
        plain = m.group(0).replace(",", "")
        wh = "what year" if re.fullmatch(r"1[5-9]\d\d|20[0-4]\d", plain) else "how many"
        wrong = _other_number(m.group(0), [], rng)
    else:
        wh, wrong = rng.choice(["who", "what", "which"]), None
    q = s[:m.start()] + wh + s[m.end():]
    q = _cap(q.rstrip(".!? ")) + "?"
    return q, m.group(0), wrong


# ------------------------------------------------------------------------------------------- generator
def _window(sents: Sequence[str], i: int, rng: random.Random, extra: int | None = None) -> str:
    """Evidence: sentence i with up to two neighbours (the way grounding picks evidence windows)."""
    extra = rng.choice([0, 0, 0, 1, 1, 2]) if extra is None else extra
    lo = max(0, i - rng.randint(0, extra))
    hi = min(len(sents), lo + extra + 1)
    lo = min(lo, i)
    hi = max(hi, i + 1)
    return " ".join(sents[lo:hi])


def generate(passages: Sequence[Sequence[str]], n_pairs: int, seed: int = 0,
             synonyms: dict[str, tuple[str, ...]] | None = None) -> list[Pair]:
    """Pairs by recipe: about 40 % entailed, 35 % contradicted, 25 % neutral.

    ``synonyms`` (``wordnet_lexicon.substitutions``) widens the recipe's short synonym list, and half of the
    entailed claims of every kind but identity, frame and edited-both are then reworded with it too."""
    rng = random.Random(seed)
    syn = {**synonyms, **_SYN} if synonyms else _SYN

    def reword(c: str | None) -> str | None:
        if c and synonyms and rng.random() < 0.5:
            return _sub_word(c, syn, rng, max_edits=rng.randint(1, 3)) or c
        return c
    all_sents = [s for p in passages for s in p]
    out: list[Pair] = []
    causal = [(p, i) for p, sents in enumerate(passages) for i, s in enumerate(sents) if reverse_cause(s)]

    def add(ev: str, claim: str | None, label: int, kind: str) -> None:
        if claim and claim.strip() and len(claim) < 400:
            out.append(Pair(ev, claim, label, kind))

    def entailed(sents, i, pools):
        s = sents[i]
        r = rng.random()
        ev = _window(sents, i, rng)
        if r < 0.08:
            add(ev, s, ENTAILED, "identity")
        elif r < 0.20:
            c = s
            steps = [lambda x: _sub_word(x, syn, rng, max_edits=rng.randint(2, 5)), lambda x: front_phrase(x),
                     lambda x: drop_details(x), lambda x: number_words(x, rng), lambda x: first_clause(x),
                     lambda x: restructure(x, rng)]
            rng.shuffle(steps)
            for step in steps[:rng.randint(2, 4)]:
                c = step(c) or c
            if rng.random() < 0.3:
                c = rng.choice(FRAMES).format(_decap(c))
            add(ev, c if c != s else None, ENTAILED, "rewrite")
        elif r < 0.24:
            add(ev, reword(first_clause(s) or last_clause(s) or drop_details(s)), ENTAILED, "clause")
        elif r < 0.34:
            c = _sub_word(s, syn, rng, max_edits=rng.randint(1, 3))
            c2 = front_phrase(c) if c and rng.random() < 0.4 else None
            add(ev, c2 or c, ENTAILED, "synonym")
        elif r < 0.52:
            # words moved, meaning kept (voice, possessives, clause order): the first sentence from i on that
            # allows it, so that the kind keeps its share
            # (many passages are one-line fields that allow none: then a few other passages are tried)
            tries = [(sents, j) for j in list(range(i, len(sents))) + list(range(0, i))]
            tries += [(passages[k], j) for k in (rng.randrange(len(passages)) for _ in range(8))
                      for j in range(len(passages[k]))]
            for p_sents, j in tries:
                c = restructure(p_sents[j], rng)
                if c:
                    add(_window(p_sents, j, rng), reword(c), ENTAILED, "restructure")
                    break
            else:
                add(ev, front_phrase(s) or drop_details(s), ENTAILED, "reorder")
        elif r < 0.62:
            base = rng.choice([s, s, first_clause(s) or s, _sub_word(s, syn, rng) or s])
            add(ev, rng.choice(FRAMES).format(_decap(base)), ENTAILED, "frame")
        elif r < 0.68:
            add(ev, reword(number_words(s, rng)), ENTAILED, "number_format")
        elif r < 0.84 and i + 1 < len(sents):
            a, b = sents[i], sents[i + 1]
            if rng.random() < 0.3:
                a, b = b, a  # told in the other order
            if rng.random() < 0.3:
                a = restructure(a, rng) or a
            fused = (first_clause(a) or a).rstrip(".!?") + rng.choice([", and ", "; ", " and "]) + \
                _decap(first_clause(b) or b)
            add(" ".join(sents[max(0, i - rng.randint(0, 1)): i + 2]), reword(fused), ENTAILED, "fusion")
        else:
            # the same edit on both sides: the claim agrees with the (edited) evidence
            edit = rng.choice([lambda x: negate(x, rng), lambda x: swap_number(x, pools["num"], rng),
                               lambda x: swap_within(x, rng), lambda x: _sub_word(x, _ANT, rng),
                               lambda x: swap_entity(x, pools["name"], rng), lambda x: quantify(x, rng)])
            e = edit(s)
            if e:
                lst = list(sents)
                lst[i] = e
                claim = e if rng.random() < 0.6 else (_sub_word(e, syn, rng) or e)
                add(_window(lst, i, rng), claim, ENTAILED, "edited_both")

    def contradicted(sents, i, pools):
        s = sents[i]
        ev = _window(sents, i, rng)
        r = rng.random()
        if r < 0.22:
            c, kind = negate(s, rng), "negation"
        elif r < 0.36:
            c, kind = swap_number(s, pools["num"], rng), "number_swap"
        elif r < 0.50:
            c, kind = (voice_role_swap(s) if rng.random() < 0.3 else None) or swap_within(s, rng), "role_swap"
        elif r < 0.62:
            ev = _window(sents, i, rng, extra=rng.choice([1, 2]))
            c, kind = swap_entity(s, pools["name"], rng, near=ev), "entity_swap"
        elif r < 0.74:
            c, kind = _sub_word(s, _ANT, rng), "antonym"
        elif r < 0.84:
            c, kind = quantify(s, rng), "quantifier"
        elif r < 0.92 and causal:
            j = rng.choice(causal)
            p_sents = passages[j[0]]
            ev, c, kind = _window(p_sents, j[1], rng), reverse_cause(p_sents[j[1]]), "causal_reversal"
        else:
            # the evidence says the opposite of the claim (negation removed from the claim's point of view)
            n = negate(s, rng)
            if n:
                lst = list(sents)
                lst[i] = n
                ev, c, kind = _window(lst, i, rng), s, "negation_in_evidence"
            else:
                c, kind = None, ""
        if c and kind != "negation_in_evidence" and rng.random() < 0.3:
            c = restructure(c, rng) or c  # nor in the source's word order: moved words are no contradiction
        if c and rng.random() < 0.3:
            c = _sub_word(c, syn, rng) or c  # contradictions are not always verbatim
        if c and rng.random() < 0.15:
            c = rng.choice(FRAMES).format(_decap(c))
        add(ev, c, CONTRADICTED, kind)

    def neutral(sents, i, pools):
        s = sents[i]
        ev = _window(sents, i, rng)
        r = rng.random()
        if r < 0.35:
            other = rng.choice(all_sents)
            tail = (last_clause(other) or first_clause(other) or other).rstrip(".!?")
            if rng.random() < 0.3:
                s = restructure(s, rng) or s
            c = s.rstrip(".!?") + rng.choice([", and ", ", while ", "; in addition, ", " and "]) + _decap(tail) + "."
            add(ev, c, NEUTRAL, "addition")
        elif r < 0.50:
            c = s.rstrip(".!?") + rng.choice([" in ", " since ", " by "]) + str(rng.randint(1700, 2024)) + "."
            if not re.search(r"\b1[7-9]\d\d|20[0-2]\d\b", s):
                add(ev, c, NEUTRAL, "addition")
        elif r < 0.72:
            # a sentence of another passage, or of this one outside the evidence window
            far = [j for j in range(len(sents)) if abs(j - i) > 3]
            c = sents[rng.choice(far)] if far and rng.random() < 0.5 else rng.choice(all_sents)
            if c not in ev:
                add(ev, c, NEUTRAL, "unrelated")
        else:
            # word salad: the claim's own words shuffled into nonsense are no evidence
            add(shuffle_words(s, rng), s, NEUTRAL, "shuffled_evidence")

    def question_form(sents, i, pools):
        q = to_question(sents[i], rng)
        if not q:
            return
        question, answer, wrong = q
        ev = _window(sents, i, rng)
        if rng.random() < 0.5:
            add(ev, f"{question} {answer}", ENTAILED, "qa")
        else:
            wrong = wrong or (rng.choice(pools["name"]) if pools["name"] else None)
            if wrong and wrong != answer and wrong not in ev:
                add(ev, f"{question} {wrong}", CONTRADICTED, "qa_wrong")

    recipes = [(0.38, entailed), (0.34, contradicted), (0.20, neutral), (0.08, question_form)]
    weights = [w for w, _ in recipes]
    fns = [f for _, f in recipes]
    guard = 0
    while len(out) < n_pairs and guard < n_pairs * 20:
        guard += 1
        p = rng.randrange(len(passages))
        sents = passages[p]
        i = rng.randrange(len(sents))
        text = " ".join(sents)
        pools = {"num": [m.group(0) for m in _NUM.finditer(text)],
                 "name": list(dict.fromkeys(m.group(0) for m in _NAME.finditer(text)))}
        if len(pools["name"]) < 3:
            pools["name"] += list(dict.fromkeys(m.group(0) for m in _NAME.finditer(rng.choice(all_sents))))
        rng.choices(fns, weights)[0](sents, i, pools)
    return out
