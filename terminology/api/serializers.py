from rest_framework import serializers

from terminology.models import Icd10Code


class Icd10CodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Icd10Code
        fields = ["code", "name_zh", "name_en", "chapter", "is_chronic"]
        read_only_fields = fields
