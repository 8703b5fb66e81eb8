"""What every page view shares: who may open it.

Pages use session sign-in. `role_required` sends an anonymous visitor to the sign-in page and
answers 403 to a signed-in user of another role; object-level access (not yours → 404) is the
selectors' job, as in the API.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def role_required(*roles: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if getattr(user, "role", None) not in roles:
                raise PermissionDenied("This page belongs to another role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
