from django.utils import timezone
from rest_framework import serializers

from accounts.models import DoctorProfile, User


class DoctorSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="user.public_id", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    department = serializers.UUIDField(source="department.public_id", read_only=True)
    department_name = serializers.CharField(source="department.name", read_only=True)
    years_of_independent_practice = serializers.SerializerMethodField()
    can_be_scheduled = serializers.SerializerMethodField()

    class Meta:
        model = DoctorProfile
        fields = [
            "id",
            "full_name",
            "title",
            "department",
            "department_name",
            "licence_number",
            "years_of_independent_practice",
            "can_be_scheduled",
        ]
        read_only_fields = fields

    def get_years_of_independent_practice(self, doctor: DoctorProfile) -> int:
        return doctor.years_of_independent_practice(timezone.localdate())

    def get_can_be_scheduled(self, doctor: DoctorProfile) -> bool:
        return doctor.can_be_scheduled(timezone.localdate())


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="user.public_id", allow_null=True)
    username = serializers.CharField(source="user.username", allow_null=True)
    full_name = serializers.CharField(source="user.full_name", allow_null=True)
    role = serializers.CharField()
    facility = serializers.UUIDField(allow_null=True)


class UserSummarySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "role"]
        read_only_fields = fields
