"""The video consultation page for a signed-in doctor or facility staff member."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from core.actors import actor_from_request
from core.exceptions import NotFoundError
from video.selectors import call_room_get_for_actor


def call_labels() -> dict[str, str]:
    """Texts the page's script shows as the call goes on."""
    return {
        "connecting": _("连接中 Connecting"),
        "online": _("已进入房间 In the room"),
        "reconnecting": _("重新连接中 Reconnecting"),
        "waiting": _("等待对方加入 Waiting for the other side"),
        "peerHere": _("对方已加入 The other side is here"),
        "peerLeft": _("对方已离开 The other side left"),
        "peerMuted": _("对方已静音 The other side muted the microphone"),
        "peerCameraOff": _("对方已关闭摄像头 The other side turned the camera off"),
        "roomClosed": _("问诊已结束 The consultation has ended"),
        "replaced": _("已在其他窗口打开 Opened in another window"),
        "refused": _("无法进入房间 Cannot enter the room"),
        "noMedia": _("无法使用摄像头或麦克风 Camera or microphone unavailable"),
        "mute": _("静音 Mute"),
        "unmute": _("取消静音 Unmute"),
        "cameraOff": _("关闭摄像头 Camera off"),
        "cameraOn": _("开启摄像头 Camera on"),
    }


@login_required
def consultation_call(request: HttpRequest, public_id: str) -> HttpResponse:
    try:
        consultation, participant = call_room_get_for_actor(
            actor=actor_from_request(request), public_id=public_id
        )
    except NotFoundError as error:
        raise Http404(error.message) from error
    return render(
        request,
        "video/call.html",
        {
            "consultation": consultation,
            "participant": participant,
            "token_url": reverse("consultation-video-token", args=[consultation.public_id]),
            "labels": call_labels(),
        },
    )
