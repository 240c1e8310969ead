"""The risk policy file: the packaged default, and the demo's file, which differs from the packaged
one in one guard only. (RISK_POLICY_FILE through the planner stage: tests/planning/test_planner_stage.py.)"""
from __future__ import annotations

import yaml

from shared.pipeline import REPO_ROOT
from shared.planning.policy import POLICY_FILE, load_policy

DEMO_POLICY = REPO_ROOT / "infra" / "demo_data" / "risk_policy.demo.yaml"


def test_load_policy_defaults_to_the_packaged_file():
    assert load_policy() == load_policy(POLICY_FILE) == load_policy(None)


def test_the_demo_policy_is_the_packaged_one_without_the_model_age_guard():
    demo, packaged = yaml.safe_load(DEMO_POLICY.read_text()), yaml.safe_load(POLICY_FILE.read_text())
    assert demo["guards"].pop("min_model_age_days") == 0 and packaged["guards"].pop("min_model_age_days") == 7
    assert demo == packaged
    assert load_policy(DEMO_POLICY).guards.min_model_age_days == 0
    assert "minutes ago" in DEMO_POLICY.read_text()
