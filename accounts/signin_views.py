"""Sign-in endpoints (API token and page form) behind the throttle in accounts.signin."""

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView

from accounts.signin import SignInLocked, signin_attempt_begin, signin_succeeded
from core.actors import client_ip


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
        signin_succeeded(username=form.get_user().get_username())
        return super().form_valid(form)
