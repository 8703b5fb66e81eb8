from rest_framework import serializers

from clinics.models import Department, Facility, FacilityType, Terminal


class DepartmentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Department
        fields = ["id", "code", "name", "name_en", "consultation_fee_fen"]
        read_only_fields = fields


class FacilityOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Facility
        fields = [
            "id",
            "code",
            "name",
            "facility_type",
            "province",
            "city",
            "district",
            "address_detail",
            "operator",
            "is_licensed_medical_institution",
            "is_active",
        ]
        read_only_fields = fields


class FacilityInputSerializer(serializers.Serializer):
    code = serializers.RegexField(r"^[A-Z0-9-]{3,32}$")
    name = serializers.CharField(max_length=150)
    facility_type = serializers.ChoiceField(choices=FacilityType.choices)
    province = serializers.CharField(max_length=32)
    city = serializers.CharField(max_length=32)
    district = serializers.CharField(max_length=32)
    address_detail = serializers.CharField(max_length=200, required=False, allow_blank=True)
    operator = serializers.CharField(max_length=150)
    is_licensed_medical_institution = serializers.BooleanField(required=False, default=False)
    is_active = serializers.BooleanField(required=False, default=True)


class FacilityUpdateSerializer(FacilityInputSerializer):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields.pop("code")
        for field in self.fields.values():
            field.required = False


class TerminalOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    facility = serializers.UUIDField(source="facility.public_id", read_only=True)
    credential_active = serializers.SerializerMethodField()

    class Meta:
        model = Terminal
        fields = [
            "id",
            "serial",
            "facility",
            "status",
            "last_heartbeat_at",
            "credential_issued_at",
            "credential_active",
        ]
        read_only_fields = fields

    def get_credential_active(self, terminal: Terminal) -> bool:
        return bool(terminal.credential_hash) and terminal.credential_revoked_at is None


class TerminalRegisterSerializer(serializers.Serializer):
    serial = serializers.RegexField(r"^[A-Za-z0-9-]{3,64}$")
    facility = serializers.UUIDField()


class TerminalCredentialSerializer(serializers.Serializer):
    terminal = TerminalOutputSerializer()
    credential = serializers.CharField(help_text="`<serial>:<secret>`; shown only this once")
