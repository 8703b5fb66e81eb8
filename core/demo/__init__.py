"""Demo data for `manage.py seed_demo`: static reference data and the bulk builder."""
