"""The planner's risk policy: the YAML operators edit, checked against a built-in floor so a kind
can be made stricter but never laxer than the floor."""
from __future__ import annotations

from pathlib import Path
from typing import get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.serving.changes import ChangeKind, Decision, Risk

POLICY_FILE = Path(__file__).with_name("risk_policy.yaml")
RISK_ORDER: dict[str, int] = {"LOW": 0, "MEDIUM": 1, "HIGH": 2}
FLOOR: dict[str, Risk] = {"catalog_add": "LOW", "catalog_deactivate": "LOW", "catalog_reactivate": "LOW",
                          "pricing_update": "LOW", "category_add": "LOW", "routing_primary": "MEDIUM",
                          "fallback_update": "MEDIUM", "prompt_template_update": "HIGH", "strategy_change": "HIGH",
                          "evaluate_model": "LOW"}
# what a risk level may mean at most: MEDIUM and HIGH changes always wait for a person
DECISION_FLOOR: dict[str, tuple[str, ...]] = {"LOW": ("auto_apply", "gated"), "MEDIUM": ("gated",), "HIGH": ("gated",)}


class PolicyError(ValueError):
    """The risk policy file is invalid; the message names the entry."""


class Guards(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_model_age_days: float = Field(7, ge=0)
    max_routing_changes_per_category_per_week: int = Field(1, ge=0)


class RiskPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kinds: dict[ChangeKind, Risk] = dict(FLOOR)
    decisions: dict[Risk, Decision] = {"LOW": "auto_apply", "MEDIUM": "gated", "HIGH": "gated"}
    guards: Guards = Guards()

    @model_validator(mode="after")
    def _never_laxer_than_the_floor(self) -> "RiskPolicy":
        missing = set(get_args(ChangeKind)) - set(self.kinds)
        if missing:
            raise ValueError(f"kinds: no risk for {sorted(missing)}")
        laxer = [f"{k}: {r} is below the floor {FLOOR[k]}" for k, r in self.kinds.items()
                 if RISK_ORDER[r] < RISK_ORDER[FLOOR[k]]]
        laxer += [f"decisions.{risk}: {d} is not allowed (only {', '.join(DECISION_FLOOR[risk])})"
                  for risk, d in self.decisions.items() if d not in DECISION_FLOOR[risk]]
        if laxer:
            raise ValueError("; ".join(laxer))
        return self

    def risk(self, kind: str) -> Risk:
        return self.kinds[kind]

    def decision(self, kind: str) -> Decision:
        return self.decisions[self.kinds[kind]]


def load_policy(path: Path | str | None = None) -> RiskPolicy:
    """The policy in `path` (None: the packaged risk_policy.yaml); PolicyError names what is wrong."""
    path = Path(path) if path else POLICY_FILE
    try:
        return RiskPolicy.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read the risk policy {path}: {exc}") from None
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<file>'}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"invalid risk policy {path}: {reasons}") from None
