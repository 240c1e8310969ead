"""The planner's rules: from the week's evidence to a risk-rated plan of serving changes (pure)."""
