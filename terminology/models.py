"""Reference code systems shared by evidence, diagnoses and prescriptions."""

from django.db import models


class Icd10Code(models.Model):
    """An ICD-10 diagnosis code (the Chinese national clinical edition uses the same codes)."""

    code = models.CharField(max_length=16, unique=True, help_text="e.g. I10, E11.9")
    name_zh = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    chapter = models.CharField(max_length=8, blank=True, help_text="e.g. IX")
    is_chronic = models.BooleanField(
        default=False, help_text="A chronic disease commonly followed up online"
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "ICD-10 code"

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh}"
