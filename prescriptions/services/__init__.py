"""Writes for prescriptions: the formulary, prescribing, signing, review and the lifecycle."""
