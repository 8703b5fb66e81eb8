"""Sign-in endpoints (API token and page form) behind the throttle in accounts.signin."""

import time
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView

from accounts.models import User
from accounts.second_factor import (
    second_factor_required,
    totp_enrolment,
    totp_is_confirmed,
    totp_verify,
)
from accounts.signin import SignInLocked, signin_attempt_begin, signin_succeeded
from core.actors import client_ip
from core.exceptions import DomainError

PENDING_USER = "second_factor_user"
PENDING_SINCE = "second_factor_since"
PENDING_NEXT = "second_factor_next"


class ThrottledTokenObtainPairView(TokenObtainPairView):
    """`POST /api/v1/auth/token/`: too many failures → 429 `signin_locked`."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        username = str(data.get("username", ""))[:150]
        signin_attempt_begin(username=username, address=client_ip(request))
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            signin_succeeded(username=username)
        return response


class ThrottledLoginView(auth_views.LoginView):
    """The page sign-in form; a locked account or address sees the form with the reason."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        try:
            signin_attempt_begin(username=username, address=client_ip(request))
        except SignInLocked as locked:
            form = AuthenticationForm(request, data=request.POST)
            form.errors.clear()
            form.add_error(None, locked.message)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if second_factor_required(user):
            # The password is right; the session is not signed in until the code is too.
            self.request.session[PENDING_USER] = user.pk
            self.request.session[PENDING_SINCE] = int(time.time())
            self.request.session[PENDING_NEXT] = self.get_success_url()
            return HttpResponseRedirect(reverse("signin-second-factor"))
        signin_succeeded(username=user.get_username())
        return super().form_valid(form)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code from your authenticator app"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


def _pending_user(request: HttpRequest) -> User | None:
    started = request.session.get(PENDING_SINCE, 0)
    if time.time() - started > settings.SIGNIN_SECOND_FACTOR_SECONDS:
        return None
    pk = request.session.get(PENDING_USER)
    if not isinstance(pk, int):
        return None
    return User.objects.filter(pk=pk, is_active=True).first()


def second_factor(request: HttpRequest) -> HttpResponse:
    """Step two of page sign-in for the roles that need it: enrol or enter the TOTP code."""
    user = _pending_user(request)
    if user is None:
        return HttpResponseRedirect(reverse("login"))
    enrolling = not totp_is_confirmed(user=user)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            totp_verify(user=user, code=form.cleaned_data["code"], address=client_ip(request))
        except DomainError as refused:
            form.add_error("code", refused.message)
            status = refused.status_code
        else:
            target = str(request.session.get(PENDING_NEXT) or reverse("home"))
            for key in (PENDING_USER, PENDING_SINCE, PENDING_NEXT):
                request.session.pop(key, None)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = reverse("home")
            return HttpResponseRedirect(target)
    context: dict[str, Any] = {"form": form, "enrolling": enrolling, "pending_user": user}
    if enrolling:
        secret, uri = totp_enrolment(user=user)
        context["secret"] = secret
        context["qr_svg"] = mark_safe(segno.make(uri, error="m").svg_inline(scale=4))  # noqa: S308
    return render(request, "registration/second_factor.html", context, status=status)
