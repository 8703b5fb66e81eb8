"""E-prescriptions, formulary and pharmacist review."""
