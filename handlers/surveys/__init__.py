"""满意度调查: campaigns, definitions and templates, the builder, results, satisfaction."""
