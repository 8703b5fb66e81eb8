from rest_framework import serializers


class IceServerSerializer(serializers.Serializer):
    """An RTCIceServer entry as the browser takes it."""

    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(required=False)
    credential = serializers.CharField(required=False)


class VideoTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Open `ws_url?token=<token>` before `expires_at`.")
    expires_at = serializers.DateTimeField()
    ws_url = serializers.CharField(help_text="The room's WebSocket URL (ws:// or wss://).")
    side = serializers.CharField(help_text="`doctor` or `facility`.")
    role = serializers.CharField()
    ice_servers = IceServerSerializer(many=True)
