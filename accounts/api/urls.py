from django.urls import path
from rest_framework.routers import SimpleRouter
from rest_framework_simplejwt.views import TokenRefreshView

from accounts.api.views import DoctorViewSet, MeView
from accounts.signin_views import ThrottledTokenObtainPairView

router = SimpleRouter()
router.register("doctors", DoctorViewSet, basename="doctor")

urlpatterns = [
    path("auth/token/", ThrottledTokenObtainPairView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("me/", MeView.as_view(), name="me"),
    *router.urls,
]
