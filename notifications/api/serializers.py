from rest_framework import serializers

from notifications.models import InAppMessage, Notification, NotificationChannel


class InAppMessageSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = InAppMessage
        fields = ["id", "event", "title", "body", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, message: InAppMessage) -> bool:
        return message.read_at is not None


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class DeadNotificationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    channel = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    recipient_user = serializers.UUIDField(
        source="recipient_user.public_id", read_only=True, allow_null=True
    )
    recipient_patient = serializers.UUIDField(
        source="recipient_patient.public_id", read_only=True, allow_null=True
    )

    class Meta:
        model = Notification
        fields = [
            "id",
            "event",
            "channel",
            "status",
            "attempts",
            "last_error",
            "recipient_user",
            "recipient_patient",
            "created_at",
            "dead_at",
        ]
        read_only_fields = fields


class PreferenceSerializer(serializers.Serializer):
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=NotificationChannel.choices), allow_empty=True
    )


class OtpRequestSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)


class OtpRequestedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    expires_in = serializers.IntegerField()


class OtpVerifySerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    code = serializers.RegexField(r"^\s*\d{6}\s*$")


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
