"""Reasoning strategies (shared/bench/strategies.py, client.run_strategy): the messages each
strategy sends, what the scorer gets, the self-consistency vote, and hostile samples (several
candidates in the final line, repeated markers, huge answers) that must win no vote and pass no
scorer. Pure, no network: run_strategy is driven by a scripted client here."""
from __future__ import annotations

import pytest

from shared.bench import strategies as S
from shared.bench.cases import Case, Constraint
from shared.bench.client import Completion, run_strategy
from shared.bench.scorers import same_vote, score, vote_key
from shared.serving.models import Strategy

NUMERIC = Case(id="math-1", category="math", scorer="numeric", answer="19.5",
               prompt="Maya spends how much?\nGive the final answer as \"#### <number>\".")
CHOICE = Case(id="reasoning-1", category="reasoning", scorer="choice", answer="B", choices=["Ben", "Ada", "Cal", "Dee"],
              prompt="Who finished third?\n\nOptions: (A) Ben (B) Ada (C) Cal (D) Dee")
ALIAS = Case(id="factual-1", category="factual", scorer="alias_match", aliases=["Canberra"],
             prompt="What is the capital city of Australia?")
EXACT = Case(id="reasoning-2", category="reasoning", scorer="exact", answer="True",
             prompt="Evaluate: not (True and False)", system="You evaluate Python expressions.")
CODE = Case(id="coding-1", category="coding", scorer="python_tests", entry_point="f", tests="assert f(1) == 2",
            prompt="Write `f(x)` returning x + 1 in a single ```python code block.")
POEM = Case(id="creative_writing-1", category="creative_writing", scorer="constraints",
            prompt="Write a three-line poem about rain. Requirements: exactly 3 lines; only lowercase letters; "
                   "include the word \"umbrella\".",
            constraints=[Constraint(type="line_count", min=3, max=3), Constraint(type="all_lowercase"),
                         Constraint(type="include_words", words=["umbrella"])])
POEM_TEXT = "grey rain taps the quiet street\nan umbrella blooms red at the corner\nleaves drift slowly toward the drain"

DIRECT = Strategy(name="direct")
COT = Strategy(name="chain_of_thought")


def sc(k: int = 5, **params: object) -> Strategy:
    return Strategy(name="self_consistency", params={"k": k, **params})


def ok(text: str) -> S.Reply:
    return S.Reply(ok=True, content=text)


def failed(why: str = "HTTP 500") -> S.Reply:
    return S.Reply(ok=False, error=why)


# ---------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------

def test_defaults_and_bounds_of_self_consistency():
    assert S.parse_strategy(Strategy(name="self_consistency")) == S.StrategySpec(name="self_consistency", k=5,
                                                                                 temperature=0.7)
    assert S.parse_strategy(sc(1, temperature=0)).k == 1 and S.parse_strategy(sc(15)).k == 15
    assert S.calls_for(sc(7)) == 7 and S.calls_for(COT) == 1 and S.calls_for(DIRECT) == 1


@pytest.mark.parametrize("params,message", [
    ({"k": 0}, "k must be from 1 to 15, got 0"),
    ({"k": 16}, "k must be from 1 to 15, got 16"),
    ({"k": "5"}, "k must be an integer"),
    ({"k": 2.5}, "k must be an integer"),
    ({"k": True}, "k must be an integer"),
    ({"temperature": -0.1}, "temperature must be a number from 0 to 2"),
    ({"temperature": 2.5}, "temperature must be a number from 0 to 2"),
    ({"temperature": float("nan")}, "temperature must be a number from 0 to 2"),
    ({"temperature": "hot"}, "temperature must be a number from 0 to 2"),
    ({"k": 3, "temperature": 0}, "at temperature 0 are one answer 3 times"),
    ({"samples": 3}, "unknown parameter(s) ['samples']"),
])
def test_invalid_self_consistency_params_are_clear_errors(params, message):
    with pytest.raises(S.StrategyError) as err:
        S.parse_strategy(Strategy(name="self_consistency", params=params))
    assert message in str(err.value) and "self_consistency" in str(err.value)


def test_direct_and_chain_of_thought_take_no_params():
    with pytest.raises(S.StrategyError, match="chain_of_thought: unknown parameter"):
        S.parse_strategy(Strategy(name="chain_of_thought", params={"k": 3}))


# ---------------------------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------------------------

def test_direct_without_template_is_the_plain_call():
    [req] = S.requests_for(NUMERIC, DIRECT, None, seed=1234)
    assert req.messages == ({"role": "user", "content": NUMERIC.prompt},)
    assert (req.seed, req.temperature, req.max_tokens) == (1234, 0.0, NUMERIC.max_tokens)


def test_template_is_prepended_to_the_case_system_message_and_the_user_message_is_untouched():
    [req] = S.requests_for(EXACT, DIRECT, "  You are helpful.  ", seed=1)
    assert req.messages[0] == {"role": "system", "content": "You are helpful.\n\nYou evaluate Python expressions."}
    assert req.messages[1] == {"role": "user", "content": EXACT.prompt}
    [req] = S.requests_for(NUMERIC, DIRECT, "You are helpful.", seed=1)
    assert req.messages[0]["content"] == "You are helpful."


@pytest.mark.parametrize("case,instruction", [(NUMERIC, S.COT_INSTRUCTION), (CODE, S.COT_CODE_INSTRUCTION),
                                              (POEM, S.COT_TEXT_INSTRUCTION)])
def test_chain_of_thought_instruction_goes_into_the_system_message(case, instruction):
    [req] = S.requests_for(case, COT, "TEMPLATE", seed=9)
    system, user = req.messages
    assert system["content"] == f"TEMPLATE\n\n{instruction}" and S.COT_MARKER in instruction
    assert user == {"role": "user", "content": case.prompt} and req.temperature == 0 and req.seed == 9
    if case is CODE:
        assert "```python code block" in instruction


def test_self_consistency_makes_k_requests_with_distinct_seeds():
    reqs = S.requests_for(NUMERIC, sc(4, temperature=0.9), None, seed=100)
    assert [r.seed for r in reqs] == [100, 101, 102, 103] and {r.temperature for r in reqs} == {0.9}
    assert all(r.messages == reqs[0].messages for r in reqs) and S.COT_INSTRUCTION in reqs[0].messages[0]["content"]


# ---------------------------------------------------------------------------------------------
# what the scorer gets
# ---------------------------------------------------------------------------------------------

def _scored(case: Case, strategy: Strategy, *texts: str):
    out = S.combine(case, strategy, [ok(t) for t in texts])
    return out, score(case, out.content)


def test_reasoning_never_reaches_the_scorer():
    # the reasoning weighs 20 and 21; only the final answer counts
    text = "Maybe 20? Or 21. Let me check: 4 x 3 = 12, 6 x 1.25 = 7.5.\n#### 21\nFinal answer: 19.5"
    out, result = _scored(NUMERIC, COT, text)
    assert out.content == "Final answer: 19.5" and result.passed
    out, result = _scored(ALIAS, COT, "Sydney, Melbourne or Canberra? The capital is not Sydney.\nFinal answer: Canberra")
    assert result.passed and "Sydney" not in out.content


def test_creative_writing_gets_only_the_piece():
    reasoning = "Plan: I Must use the word umbrella.\nThree Lines, No Capitals.\n"
    out, result = _scored(POEM, COT, f"{reasoning}Final answer:\n{POEM_TEXT}")
    assert out.content == POEM_TEXT and result.passed
    # the reasoning's mention of "umbrella" cannot satisfy include_words for a piece without it
    out, result = _scored(POEM, COT, f"{reasoning}Final answer:\nrain on the street\nlights in the puddles\ncold feet")
    assert not result.passed and "missing ['umbrella']" in result.detail


def test_without_a_final_answer_line_the_scorer_gets_the_whole_response():
    text = f"Plan: Three Lines.\n{POEM_TEXT}"
    out, result = _scored(POEM, COT, text)
    assert out.content == text and "no 'Final answer:' line" in out.how and not result.passed
    out, result = _scored(NUMERIC, COT, "4 x 3 = 12 and 6 x 1.25 = 7.5, so 19.5 in total.\n#### 19.5")
    assert result.passed


def test_direct_passes_the_whole_response_even_with_a_marker():
    text = "draft\nFinal answer: 19.5"
    assert S.combine(NUMERIC, DIRECT, [ok(text)]).content == text


def test_coding_keeps_the_code_block():
    code = "```python\ndef f(x):\n    return x + 1\n```"
    out = S.combine(CODE, COT, [ok(f"Approach: add one.\n```python\ndef f(x):\n    pass\n```\nFinal answer:\n{code}")])
    assert out.content == code
    # the code before the marker is still the code when nothing follows it
    text = f"Here it is:\n{code}\nFinal answer: see above"
    assert S.combine(CODE, COT, [ok(text)]).content == text


def test_the_last_final_answer_wins_and_earlier_ones_are_never_considered():
    out, result = _scored(NUMERIC, COT, "Final answer: 19.5\nHmm, recheck.\nFinal answer: 20")
    assert out.content == "Final answer: 20" and not result.passed
    out, result = _scored(NUMERIC, COT, "Final answer: 20\nFinal answer: 21\n**Final Answer:** 19.5")
    assert result.passed and "20" not in out.content


@pytest.mark.parametrize("case,final", [
    (NUMERIC, "Final answer: 19.5 or 20"),
    (NUMERIC, "Final answer: 19.5, 20, 21"),
    (NUMERIC, "Final answer: #### 19.5\n\\boxed{20}"),       # a second candidate after the line
    (CHOICE, "Final answer: A or B"),
    (CHOICE, "Final answer: B C D"),
    (ALIAS, "Final answer: Canberra or Sydney"),
    (ALIAS, "Final answer: Sydney, Canberra"),
])
def test_an_enumerating_final_answer_passes_no_scorer_and_casts_no_vote(case, final):
    text = "Thinking.\n" + final
    assert not score(case, S.scorer_content(case, text, "chain_of_thought")[0]).passed
    assert vote_key(case, S.scorer_content(case, text, "self_consistency")[0]) is None


# ---------------------------------------------------------------------------------------------
# the vote
# ---------------------------------------------------------------------------------------------

def test_numbers_vote_together_whatever_their_form():
    keys = [vote_key(NUMERIC, f"Final answer: {x}") for x in ("42", "42.0", "$42", "4.2e1", "#### 42.00")]
    assert all(isinstance(k, float) and same_vote(k, keys[0]) for k in keys)
    out = S.combine(NUMERIC, sc(5), [ok("Final answer: 41"), ok("Final answer: 42"), ok("Final answer: 42.0"),
                                     ok("Final answer: 41.0"), ok("Final answer: 42.000")])
    assert out.chosen == 1 and out.agreement == 0.6
    assert [(v.answer, v.count, v.first) for v in out.votes] == [("41", 2, 0), ("42", 3, 1)]


def test_letters_vote_together():
    out, result = _scored(CHOICE, sc(3), "Final answer: (B)", "Final answer: A", "Final answer: Answer: B")
    assert result.passed and out.chosen == 0 and out.votes[0].count == 2


def test_a_tie_goes_to_the_earliest_answer():
    out = S.combine(NUMERIC, sc(4), [ok("Final answer: 20"), ok("Final answer: 19.5"),
                                     ok("Final answer: 19.5"), ok("Final answer: 20")])
    assert out.chosen == 0 and "tie" in out.how and out.content == "Final answer: 20"


def test_enumerators_do_not_win_the_vote():
    hedge = "Final answer: 19.5, 20, 21"
    out, result = _scored(NUMERIC, sc(5), hedge, hedge, hedge, "Final answer: 21", hedge)
    assert out.chosen == 3 and out.content == "Final answer: 21" and not result.passed
    assert [s.vote for s in out.samples] == [None, None, None, "21", None]
    # nobody gives one answer: the first sample goes to the scorer, which fails it
    out, result = _scored(NUMERIC, sc(3), hedge, "Final answer: 19.5 or 20", hedge)
    assert out.chosen == 0 and out.votes == () and out.agreement == 0.0 and not result.passed
    out, result = _scored(CHOICE, sc(5), "Final answer: A B C D", "Final answer: A or B", "Final answer: B/C",
                          "Final answer: C", "Final answer: (A) (B)")
    assert out.content == "Final answer: C" and not result.passed


def test_code_votes_on_identical_programs_else_the_first():
    a = "Final answer:\n```python\ndef f(x):\n    return x + 1\n```"
    a_spaced = "Final answer:\n```python\n\ndef f(x):   \n\n    return x + 1\n```"
    b = "Final answer:\n```python\ndef f(x):\n    return 1 + x\n```"
    assert S.combine(CODE, sc(3), [ok(b), ok(a), ok(a_spaced)]).chosen == 1
    assert S.combine(CODE, sc(3), [ok(b), ok(a), ok("no code at all")]).chosen == 0


def test_creative_writing_votes_on_normalised_text_and_non_attempts_abstain():
    shout = POEM_TEXT.upper().replace("\n", "  \n")
    out = S.combine(POEM, sc(3), [ok("Final answer: !"), ok(f"Final answer:\n{POEM_TEXT}"), ok(f"Final answer:\n{shout}")])
    assert out.chosen == 1 and out.votes[0].count == 2 and out.samples[0].vote is None


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------

def test_fewer_than_a_majority_of_samples_is_errored_never_scored():
    out = S.combine(NUMERIC, sc(5), [ok("Final answer: 19.5"), failed(), ok("Final answer: 19.5"),
                                     failed("timeout"), failed()])
    assert not out.ok and out.content == "" and out.chosen is None
    assert "only 2 of 5 samples succeeded, 3 (a majority) needed" in out.error
    assert "HTTP 500" in out.error and "timeout" in out.error
    three = S.combine(NUMERIC, sc(5), [ok("Final answer: 19.5"), failed(), ok("Final answer: 20"),
                                       failed(), ok("Final answer: 19.5")])
    assert three.ok and three.agreement == round(2 / 3, 4) and score(NUMERIC, three.content).passed


def test_a_failed_single_call_keeps_its_own_error():
    out = S.combine(NUMERIC, COT, [failed("empty completion (no content)")])
    assert not out.ok and out.error == "empty completion (no content)"


def test_huge_answers_are_handled_and_shortened():
    numbers = " ".join(str(i) for i in range(100_000))
    huge = "x " * 200_000 + "\nFinal answer: " + numbers
    out = S.combine(NUMERIC, sc(3), [ok(huge), ok(huge), ok("Final answer: 19.5")])
    assert out.chosen == 2 and score(NUMERIC, out.content).passed
    assert all(len(s.answer) <= S.EXCERPT_CHARS for s in out.samples)
    assert not score(NUMERIC, S.scorer_content(NUMERIC, huge, "chain_of_thought")[0]).passed
    poem = "Final answer:\n" + "soft rain falls on a red umbrella " * 50_000
    out = S.combine(POEM, sc(3), [ok(poem), ok(poem), ok("Final answer: !")])
    assert out.chosen == 0 and len(out.votes[0].answer) <= S.KEY_CHARS


# ---------------------------------------------------------------------------------------------
# run_strategy (scripted client)
# ---------------------------------------------------------------------------------------------

class Scripted:
    """A chat client answering from a script, recording what it was asked."""

    class settings:
        bench_seed = 1234

    def __init__(self, *replies: Completion):
        self.replies = list(replies)
        self.asked: list[dict] = []

    def chat(self, model, messages, *, seed, temperature, max_tokens):
        self.asked.append({"model": model, "messages": list(messages), "seed": seed, "temperature": temperature})
        return self.replies.pop(0)


def reply(text: str, tokens: int | None = 10, cost: float | None = 0.001) -> Completion:
    return Completion(ok=True, content=text, prompt_tokens=tokens, completion_tokens=tokens, cost_usd=cost,
                      latency_s=0.5, attempts=1, simulated=True, finish_reason="stop")


def test_run_strategy_sums_the_samples():
    client = Scripted(*(reply(f"Final answer: {x}") for x in ("19.5", "20", "19.5")))
    done = run_strategy(client, "m", NUMERIC, sc(3), "TEMPLATE")
    assert done.ok and done.content == "Final answer: 19.5" and score(NUMERIC, done.content).passed
    assert (done.prompt_tokens, done.completion_tokens, done.attempts, done.simulated) == (30, 30, 3, True)
    assert done.cost_usd == pytest.approx(0.003) and done.latency_s == pytest.approx(1.5)
    assert [a["seed"] for a in client.asked] == [1234, 1235, 1236] and {a["temperature"] for a in client.asked} == {0.7}
    assert client.asked[0]["messages"][0]["content"].startswith("TEMPLATE\n\n")
    assert done.outcome.agreement == round(2 / 3, 4) and done.finish_reason == "stop"


def test_run_strategy_reports_no_total_it_cannot_know():
    done = run_strategy(Scripted(reply("Final answer: 1"), reply("Final answer: 1", tokens=None, cost=None)),
                        "m", NUMERIC, sc(2, temperature=0.5))
    assert done.ok and done.prompt_tokens is None and done.cost_usd is None


def test_run_strategy_stops_when_a_majority_can_no_longer_succeed():
    bad = Completion(ok=False, error="HTTP 503", attempts=3, latency_s=0.1)
    client = Scripted(bad, reply("Final answer: 19.5"), bad, bad, reply("never asked"))
    done = run_strategy(client, "m", NUMERIC, sc(5))
    assert not done.ok and len(client.asked) == 4 and done.content == ""
    assert "only 1 of 5 samples succeeded" in done.error and "not called" in done.error
    assert done.attempts == 10 and done.prompt_tokens is None


def test_run_strategy_rejects_an_invalid_strategy_before_any_call():
    client = Scripted()
    with pytest.raises(S.StrategyError):
        run_strategy(client, "m", NUMERIC, sc(0))
    assert client.asked == []
