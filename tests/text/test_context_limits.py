"""Time limits and options of the context methods: reliance and what-if stop at the limit like every long method,
a long generation is stopped from inside, and ``perturb`` honours --time-limit, --seed and --max-new-tokens in
every mode or refuses them (exit 2) where a mode would ignore them."""

import json

import pytest

from explainers.cli import main
from explainers.errors import TimeLimitError
from explainers.limits import time_limited
from explainers.text.context import context_reliance, leave_one_out, make_edit, what_if
from explainers.types import ContextAttribution, ContextReliance, EditResult, from_json

QUESTION = "Where is the Zorblax festival held?"
SOURCES = ["Many visitors bring tents. The Zorblax festival is held in the town of Quenby every spring.",
           "Cats are popular pets in many countries."]
ANSWER = "The Zorblax festival is held in Quenby."
EDIT = make_edit("replace", "text", "source 1", match="Quenby", replacement="Arlesford")


def _stop_inside_generation(after: str):
    """A progress callback whose time limit runs out once generation is under way: at the second call after the
    message ``after`` (the first is the generation's start, the second comes after 8 generated tokens)."""
    state = {"seen": False, "calls": 0, "log": []}

    def progress(fraction: float, message: str = "") -> None:
        state["log"].append((round(fraction, 3), message))
        if state["seen"]:
            state["calls"] += 1
            if state["calls"] == 2:
                raise TimeLimitError("the time limit ran out while the answer was generated")
        state["seen"] = state["seen"] or message.startswith(after)

    return progress, state


def test_reliance_and_what_if_stop_at_an_expired_time_limit(lm):
    with pytest.raises(TimeLimitError, match="time limit of 1e-06 s"):
        context_reliance(lm, QUESTION, SOURCES, ANSWER, progress=time_limited(None, 1e-6, "context reliance"))
    with pytest.raises(TimeLimitError, match="time limit of 1e-06 s"):
        what_if(lm, QUESTION, SOURCES, ANSWER, [EDIT], progress=time_limited(None, 1e-6, "what-if"))
    assert context_reliance(lm, QUESTION, SOURCES, ANSWER).words  # the model is usable afterwards


def test_a_limit_that_runs_out_during_regeneration_stops_the_generation(lm):
    """Before, generation never reported progress: a what-if whose limit ran out while it regenerated the answer
    finished the generation and returned as if there were no limit."""
    progress, state = _stop_inside_generation("regenerating the answer")
    with pytest.raises(TimeLimitError):
        what_if(lm, QUESTION, SOURCES, ANSWER, [EDIT], max_new_tokens=64, progress=progress)
    assert state["calls"] == 2, state["log"]
    fractions = [f for f, _ in state["log"]]
    assert fractions == sorted(fractions) and 0.6 <= fractions[-1] < 1.0  # monotone, stopped inside 0.6..1
    progress, state = _stop_inside_generation("scored 4/4")  # leave-one-out scores 4 prompts, then regenerates
    with pytest.raises(TimeLimitError):
        leave_one_out(lm, QUESTION, SOURCES, ANSWER, max_new_tokens=64, progress=progress)


# ---------------------------------------------------------------- the CLI


@pytest.fixture()
def perturb(tmp_path, lm):
    s1, s2 = tmp_path / "s1.txt", tmp_path / "s2.txt"
    s1.write_text(SOURCES[0])
    s2.write_text(SOURCES[1])

    def run(*extra, answer=ANSWER, out="r.json"):
        args = ["perturb", "--question", QUESTION, "--sources", str(s1), str(s2)]
        args += ["--answer", answer] if answer else ["--generate"]
        if "--mode" in extra and "edit" in extra:
            args += ["--edit", json.dumps(EDIT)]
        path = tmp_path / (out or "unused.json")
        if path.exists():
            path.unlink()
        code = main(args + list(extra) + (["--json", str(path)] if out else []))
        return code, (from_json(path.read_text()) if code == 0 and out else None)

    return run


@pytest.mark.parametrize("mode", ["loo", "ablate", "reliance", "edit"])
def test_every_perturb_mode_stops_at_its_time_limit(perturb, capsys, mode):
    code, _ = perturb("--mode", mode, "--time-limit", "0.001")
    assert code == 2 and "time limit of 0.001 s" in capsys.readouterr().err


def test_the_generated_answer_is_under_the_time_limit_too(perturb, capsys):
    code, _ = perturb("--mode", "reliance", "--time-limit", "0.001", answer=None)
    err = capsys.readouterr().err
    assert code == 2 and "time limit" in err and "generated answer" not in err


@pytest.mark.parametrize("mode", ["loo", "edit"])
def test_seed_is_refused_where_the_mode_is_deterministic(perturb, capsys, mode):
    code, _ = perturb("--mode", mode, "--seed", "3")
    assert code == 2 and "--seed does nothing with --mode " + mode in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["ablate", "reliance"])
def test_seed_is_used_where_the_mode_is_random(perturb, mode):
    code, result = perturb("--mode", mode, "--seed", "3")
    assert code == 0 and result.params["seed"] == 3
    _, default = perturb("--mode", mode, out="d.json")
    assert default.params["seed"] == 0
    if mode == "reliance":  # another shuffle of the sources: another control, the same reliance
        assert isinstance(result, ContextReliance)
        assert (result.log_prob_with == default.log_prob_with).all()
        assert (result.log_prob_shuffled != default.log_prob_shuffled).any()


def _n_tokens(lm, text: str) -> int:
    return len(lm.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_max_new_tokens_bounds_every_regenerated_answer(perturb, lm):
    code, loo = perturb("--mode", "loo", "--max-new-tokens", "2")
    assert code == 0 and isinstance(loo, ContextAttribution)
    assert all(_n_tokens(lm, v["regenerated"]) <= 2 for v in loo.variants)
    assert loo.params["max_new_tokens"] == 2
    code, edit = perturb("--mode", "edit", "--max-new-tokens", "2")
    assert code == 0 and isinstance(edit, EditResult) and 0 < _n_tokens(lm, edit.regenerated) <= 2
    _, free = perturb("--mode", "edit", out="free.json")
    assert _n_tokens(lm, free.regenerated) > 2  # without the option the answer is longer: the option did it


@pytest.mark.parametrize("mode", ["ablate", "reliance"])
def test_max_new_tokens_bounds_the_generated_answer_or_is_refused(perturb, lm, capsys, mode):
    code, _ = perturb("--mode", mode, "--max-new-tokens", "2")
    assert code == 2 and f"--max-new-tokens does nothing with --mode {mode}" in capsys.readouterr().err
    code, result = perturb("--mode", mode, "--max-new-tokens", "3", answer=None)
    assert code == 0 and 0 < _n_tokens(lm, result.answer) <= 3


def test_max_new_tokens_with_no_regeneration_is_refused(perturb, capsys):
    code, _ = perturb("--mode", "loo", "--no-regenerate", "--max-new-tokens", "2")
    assert code == 2 and "--mode loo --no-regenerate" in capsys.readouterr().err


@pytest.mark.parametrize("args", [("--mode", "reliance", "--unit", "source"), ("--mode", "loo", "--threshold", "2"),
                                  ("--mode", "edit", "--n-ablations", "8"), ("--mode", "ablate", "--no-regenerate")])
def test_other_options_a_mode_would_ignore_are_refused(perturb, capsys, args):
    code, _ = perturb(*args, out=None)
    assert code == 2 and "does nothing with --mode" in capsys.readouterr().err
