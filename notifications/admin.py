from django.contrib import admin

from notifications.models import InAppMessage, Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event", "channel", "status", "attempts", "sent_at", "dead_at"]
    list_filter = ["status", "channel", "event"]
    search_fields = ["public_id", "dedupe_key"]
    readonly_fields = [field.name for field in Notification._meta.fields]


@admin.register(InAppMessage)
class InAppMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "event", "title", "read_at"]
    list_filter = ["event"]
    readonly_fields = [field.name for field in InAppMessage._meta.fields]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "channels"]
