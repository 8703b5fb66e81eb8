"""Seed the ICD-10 table from terminology/data/icd10.csv (later updates: `manage.py load_icd10`)."""

from django.db import migrations


def seed(apps, schema_editor):
    from terminology.services import icd10_load, icd10_read_csv

    icd10_load(rows=icd10_read_csv(), model=apps.get_model("terminology", "Icd10Code"))


class Migration(migrations.Migration):
    dependencies = [
        ("terminology", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
