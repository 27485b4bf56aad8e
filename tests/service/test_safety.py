"""Table-driven tests for the red-flag safety layer (issue 4).

Run: python -m pytest -q tests/service/test_safety.py -s   (-s prints the per-rule table)
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections import Counter
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the layer must be importable without installing the repo
    sys.path.insert(0, str(ROOT))

from service.safety import (  # noqa: E402
    DEFAULT_RULES_PATH,
    FAIL_CLOSED,
    SafetyLayer,
    SafetyResult,
    SafetyRulesError,
)

CASES_PATH = pathlib.Path(__file__).with_name("safety_cases.jsonl")
SEVERITY = {"none": 0, "see_doctor": 1, "urgent": 2, "emergency": 3}
KINDS = {"positive", "negated", "benign", "idiom"}
MAX_FALSE_ESCALATION = 0.02


@dataclass(frozen=True)
class Case:
    line: int
    turns: tuple[str, ...]
    expect_level: str
    expect_rule: str | None
    kind: str

    @property
    def label(self) -> str:
        return f"L{self.line}-{self.kind}-{self.expect_rule or self.expect_level}"


def _load_cases() -> list[Case]:
    cases = []
    for n, line in enumerate(CASES_PATH.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        cases.append(
            Case(n, tuple(raw["turns"]), raw["expect_level"], raw.get("expect_rule"), raw["kind"])
        )
    return cases


CASES = _load_cases()
POSITIVES = [c for c in CASES if c.kind == "positive"]
NON_POSITIVES = [c for c in CASES if c.kind != "positive"]


@pytest.fixture(scope="module")
def layer() -> SafetyLayer:
    return SafetyLayer.load(DEFAULT_RULES_PATH)


@pytest.fixture(scope="module")
def results(layer: SafetyLayer) -> dict[Case, SafetyResult]:
    return {case: layer.check(list(case.turns)) for case in CASES}


# ----------------------------------------------------------------------------- the case table


def test_case_table_is_well_formed(layer: SafetyLayer) -> None:
    assert len(CASES) >= 220
    for case in CASES:
        assert case.kind in KINDS, case.label
        assert case.turns and all(isinstance(t, str) and t.strip() for t in case.turns), case.label
        assert case.expect_level in SEVERITY, case.label
        if case.kind == "positive":
            assert case.expect_level != "none" and case.expect_rule, case.label
        else:
            assert case.expect_level == "none", case.label
        if case.expect_rule is not None:
            assert case.expect_rule in layer.rule_ids, f"{case.label}: unknown rule"


@pytest.mark.parametrize("case", POSITIVES, ids=lambda c: c.label)
def test_positive_case_escalates(case: Case, results: dict[Case, SafetyResult]) -> None:
    got = results[case]
    assert SEVERITY[got.level] >= SEVERITY[case.expect_level], (case.turns, got)
    assert case.expect_rule in got.rules, (case.turns, got)
    assert got.message, "an escalation always carries its fixed message"


@pytest.mark.parametrize("level", ["emergency", "urgent", "see_doctor"])
def test_recall_is_100_percent_per_level(level: str, results: dict[Case, SafetyResult]) -> None:
    cases = [c for c in POSITIVES if c.expect_level == level]
    assert cases, f"no {level} positives in the table"
    hit = [
        c for c in cases
        if SEVERITY[results[c].level] >= SEVERITY[level] and c.expect_rule in results[c].rules
    ]
    recall = len(hit) / len(cases)
    print(f"\nrecall[{level}] = {len(hit)}/{len(cases)} = {recall:.1%}")
    assert recall == 1.0, [c.turns for c in cases if c not in hit]


def test_false_escalation_rate(results: dict[Case, SafetyResult]) -> None:
    false = [c for c in NON_POSITIVES if results[c].level != "none"]
    rate = len(false) / len(NON_POSITIVES)
    print(f"\nfalse escalation = {len(false)}/{len(NON_POSITIVES)} = {rate:.2%} (limit {MAX_FALSE_ESCALATION:.0%})")
    for c in false:
        print(f"  FALSE ESCALATION {c.label}: {results[c].level} {results[c].rules} <- {' / '.join(c.turns)}")
    assert rate <= MAX_FALSE_ESCALATION


def test_print_per_rule_table(layer: SafetyLayer, results: dict[Case, SafetyResult]) -> None:
    """Not an assertion-heavy test: prints the audit table the issue's closing note needs."""
    per_rule: Counter[tuple[str, str]] = Counter()
    for c in CASES:
        per_rule[(c.expect_rule or "(no rule)", c.kind)] += 1
    fired: Counter[str] = Counter(r for res in results.values() for r in res.rules)
    kinds = sorted(KINDS)
    print("\n" + f"{'rule':38}" + "".join(f"{k:>10}" for k in kinds) + f"{'fired':>8}")
    for rule in [*layer.rule_ids, "(no rule)"]:
        row = "".join(f"{per_rule[(rule, k)]:>10}" for k in kinds)
        print(f"{rule:38}{row}{fired.get(rule, 0):>8}")
    totals = Counter(c.kind for c in CASES)
    print(f"{'TOTAL':38}" + "".join(f"{totals[k]:>10}" for k in kinds) + f"{len(CASES):>8}")
    assert sum(totals.values()) == len(CASES)


def test_every_rule_fires_and_negation_silences_it(layer: SafetyLayer, results: dict[Case, SafetyResult]) -> None:
    negatable = layer.negatable_rule_ids
    for rule in layer.rule_ids:
        assert any(rule in results[c].rules for c in POSITIVES if c.expect_rule == rule), f"{rule} never fires"
        if rule in negatable:
            negs = [c for c in CASES if c.kind == "negated" and c.expect_rule == rule]
            assert negs, f"{rule}: no negated look-alike in the table"
            assert any(rule not in results[c].rules for c in negs), f"{rule}: never silenced by negation"


# ----------------------------------------------------------------------------- behaviour


def test_earlier_turn_sign_still_holds(layer: SafetyLayer) -> None:
    turns = ["I fell off my bike and now I can't put any weight on my leg", "ok", "what stretches help tight hips?"]
    assert layer.check(turns).level == "emergency"
    assert layer.check(turns[1:]).level == "none"
    crisis = ["honestly I want to end it all", "anyway, best shoes for hip pain?"]
    assert "self-harm-crisis" in layer.check(crisis).rules


def test_most_severe_rule_first_and_its_message(layer: SafetyLayer) -> None:
    got = layer.check(["my calf is swollen and warm", "and now I have chest pain and can't catch my breath"])
    assert got.level == "emergency"
    assert got.rules[0] == "pulmonary-embolism" and "dvt" in got.rules
    assert got.message and "999" in got.message


def test_none_result_shape(layer: SafetyLayer) -> None:
    got = layer.check(["how long should I ice my hip"])
    assert got == SafetyResult(level="none", rules=(), message=None)
    assert layer.check([]).level == "none"


def test_fail_closed_constant() -> None:
    assert FAIL_CLOSED.level == "urgent"
    assert FAIL_CLOSED.rules == ("safety-layer-error",)
    assert FAIL_CLOSED.message and "999" in FAIL_CLOSED.message


def test_crisis_message_has_crisis_lines(layer: SafetyLayer) -> None:
    msg = layer.check(["I feel suicidal"]).message or ""
    for needle in ("999", "911", "112", "116 123", "988"):
        assert needle in msg


def test_real_rules_file_loads(layer: SafetyLayer) -> None:
    assert layer.version.count(".") == 2
    assert len(layer.rule_ids) >= 13
    assert len(set(layer.rule_ids)) == len(layer.rule_ids)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(), max_size=300), max_size=5))
def test_arbitrary_unicode_never_raises(turns: list[str]) -> None:
    got = _SHARED.check(turns)
    assert got.level in SEVERITY
    assert (got.message is None) == (got.level == "none")


_SHARED = SafetyLayer.load(DEFAULT_RULES_PATH)


@pytest.mark.parametrize(
    "turns",
    [
        ["\x00\x01\x02 hip \x00 pain \ufeff\u200b"],
        ["🏃‍♀️🔥💀 my hip 😭😭 " * 50],
        ["ｆｅｖｅｒ and my ｈｉｐ is ｓｗｏｌｌｅｎ"],  # fullwidth: NFKC must fold it
        ["\ud800 lone surrogate"],
        ["a" * 20000],
        ["(" * 500 + "numb" + ")" * 500],
        ["I can’t put weight on it after I fell"],  # curly apostrophe
    ],
)
def test_garbage_and_unicode_edge_cases(layer: SafetyLayer, turns: list[str]) -> None:
    assert layer.check(turns).level in SEVERITY


def test_normalisation_makes_lookalikes_match(layer: SafetyLayer) -> None:
    assert layer.check(["ｆｅｖｅｒ and my ｈｉｐ is ｓｗｏｌｌｅｎ"]).level == "emergency"
    assert layer.check(["I fell and I can’t put weight on it"]).level == "emergency"


# ----------------------------------------------------------------------------- schema validation

VALID = '''
version = "2026.01.1"
reviewed_by = "test"
reviewed_on = 2026-01-01

[concepts.fever]
patterns = ['fever\\w*']

[concepts.hip]
patterns = ['hips?']

[[rules]]
id = "rule-one"
level = "emergency"
suspected = "infection"
message = "Go to A&E now, this is an emergency."
source = "NHS test source"
[[rules.when]]
within = "turn"
all = [["fever"], ["hip"]]

[[rules]]
id = "rule-two"
level = "see_doctor"
suspected = "something"
message = "See your GP within two weeks."
source = "NHS test source"
[[rules.when]]
within = "conversation"
all = [["hip"]]
'''


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_valid_file_loads(tmp_path: pathlib.Path) -> None:
    layer = SafetyLayer.load(_write(tmp_path, VALID))
    assert layer.check(["fever and hip pain"]).rules == ("rule-one", "rule-two")
    assert layer.check(["no fever but my hip hurts"]).rules == ("rule-two",)


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda s: s.replace('id = "rule-two"', 'id = "rule-one"'), ["rule-one", "duplicate"]),
        (lambda s: s.replace('message = "See your GP within two weeks."\n', ""), ["rule-two", "message"]),
        (lambda s: s.replace('source = "NHS test source"\n[[rules.when]]\nwithin = "turn"', '[[rules.when]]\nwithin = "turn"'), ["rule-one", "source"]),
        (lambda s: s.replace('level = "emergency"', 'level = "critical"'), ["rule-one", "level"]),
        (lambda s: s.replace("patterns = ['fever\\w*']", "patterns = ['fever(']"), ["fever", "rule-one", "compile"]),
        (lambda s: s.replace('all = [["hip"]]', 'all = [["hipp"]]'), ["rule-two", "hipp"]),
        (lambda s: s.replace('message = "Go to A&E now, this is an emergency."', 'message = "   "'), ["rule-one", "message"]),
        (lambda s: s.replace("patterns = ['hips?']", "patterns = ['(hip\\w+)+']"), ["hip", "nested"]),
        (lambda s: s.replace('version = "2026.01.1"', 'version = "one"'), ["version"]),
        (lambda s: s + "\n[[rules]]\nid = 'x'\n", ["rule 'x'"]),
        (lambda s: s.replace('reviewed_on = 2026-01-01', 'reviewed_on = [1'), ["not valid TOML"]),
    ],
    ids=[
        "duplicate-id", "missing-message", "missing-source", "unknown-level", "bad-regex",
        "unknown-concept", "blank-message", "nested-quantifier", "bad-version", "incomplete-rule", "bad-toml",
    ],
)
def test_invalid_rules_file_raises_one_clear_line(tmp_path: pathlib.Path, mutate, needles: list[str]) -> None:
    bad = mutate(VALID)
    assert bad != VALID, "mutation did not apply"
    with pytest.raises(SafetyRulesError) as info:
        SafetyLayer.load(_write(tmp_path, bad))
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def test_terms_may_use_terms_but_not_themselves(tmp_path: pathlib.Path) -> None:
    nested = VALID.replace("[concepts.fever]", "[terms]\nhot = 'fever\\w*'\nhot_hip = '{hot} in (?:my )?hips?'\n\n[concepts.fever]")
    nested = nested.replace("patterns = ['fever\\w*']", "patterns = ['{hot_hip}']")
    assert nested != VALID
    layer = SafetyLayer.load(_write(tmp_path, nested))
    assert layer.check(["fever in my hip"]).level == "emergency"
    looped = nested.replace("hot = 'fever\\w*'", "hot = '{hot_hip}'")
    with pytest.raises(SafetyRulesError) as info:
        SafetyLayer.load(_write(tmp_path, looped))
    assert "nested too deep" in str(info.value)


def test_missing_file_raises(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SafetyRulesError):
        SafetyLayer.load(tmp_path / "nope.toml")


def test_a_sign_said_to_be_over_is_silenced_but_history_that_matters_is_not(layer: SafetyLayer) -> None:
    over = [
        "Last year I had tingling down my leg but it cleared up completely after physio. Now I want a strength plan.",
        "my hip used to lock and catch before my arthroscopy, since the surgery its been perfect. how often should I do rehab?",
        "I used to have night sweats on a medication, stopped it ages ago and they're gone. Is sweating on runs normal?",
    ]
    for message in over:
        assert layer.check([message]).level == "none", message
    # "gone down a bit" is better, not over: the clause must end at the resolution
    assert layer.check(["my calf is swollen and warm, its gone down a bit since this morning"]).level == "urgent"
    # a past stress fracture is a risk factor however well it healed
    got = layer.check(["I had a stress fracture in my hip in 2019 but it healed completely. Now I have deep groin pain that builds as I run"])
    assert "femoral-neck-stress-fracture" in got.rules
    # crisis language is never "over" by this rule
    assert "self-harm-crisis" in layer.check(["I wanted to end my life last month but it's passed now"]).rules


def test_a_sign_that_has_not_gone_away_is_still_there(layer: SafetyLayer) -> None:
    """'...hasn't gone away' is not 'gone away' (rules 2026.12.15)."""
    still = ["been doing piriformis stretches for 3 weeks plus resting but the numbness down the side of my leg hasn't gone away"]
    assert "numbness-down-leg" in layer.check(still).rules
    assert layer.check(["the numbness down the side of my leg has gone away now, which stretch keeps it that way?"]).level == "none"
    # "physio sorted it and I've had no symptoms for 8 months": over
    assert layer.check(["I had pins and needles down my leg from a disc bulge, physio sorted it. Is deadlifting safe now?"]).level == "none"


def test_a_disclosure_is_not_a_hypothetical(layer: SafetyLayer) -> None:
    """'I should say I drink heavily' tells; 'say I drank heavily, would...' supposes."""
    turns = ["Is hip bursitis common in runners?", "I should say I drink quite heavily most nights, and this is a deep ache in my groin that's getting worse"]
    assert "avascular-necrosis" in layer.check(turns).rules
    assert layer.check(["Say I drink heavily every night and get a deep groin ache, what would that mean?"]).level == "none"


def test_a_sign_told_across_turns(layer: SafetyLayer) -> None:
    """Groin pain in one turn, pain at rest in the next; 'it locks' after the hip was named."""
    assert "femoral-neck-stress-fracture" in layer.check(["groin pain that comes on about 5k into runs, been a couple of weeks", "update: now it aches even when im lying on the sofa doing nothing"]).rules
    assert "hip-locking-or-giving-way" in layer.check(["weird sensation in my hip", "like something gets stuck and I have to wiggle it to free it up. it locks maybe once a day"]).rules


def test_resting_is_not_a_ruled_out_sign(layer: SafetyLayer) -> None:
    """'no running' says what was done, not a symptom ruled out (rules 2026.12.16)."""
    assert "persistent-or-worsening-pain" in layer.check(["rested it 10 days no running iced it every night hip still the same no improvement at all tbh"]).rules
    assert layer.check(["no running for a week, then an easy 5k and my hip felt great. what stretches now?"]).level == "none"
