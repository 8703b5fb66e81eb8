from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import pages as doctor_pages
from accounts.signin_views import ThrottledLoginView, second_factor
from core.observability import metrics_view
from core.views import healthz, home, icd10_options
from patients import pages as patient_pages
from payments import pages as payment_pages
from pharmacy import pages as pharmacy_pages
from prescriptions.views import ca_bundle, verify_page

# The patient's phone pages: sign-in, prescriptions, orders and payment, pickup code, tracking.
mobile_pages = [
    *patient_pages.urlpatterns,
    *payment_pages.urlpatterns,
    *pharmacy_pages.urlpatterns,
]

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("clinics.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("terminology.api.urls")),
    path("", include("consultations.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("payments.api.urls")),
    path("", include("video.api.urls")),
    path("", include("prescriptions.api.urls")),
    path("", include("pharmacy.api.urls")),
    path("", include("quality.api.urls")),
]

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("verify/prescriptions/<uuid:public_id>/", verify_page, name="prescription-verify-page"),
    path("verify/ca.pem", ca_bundle, name="signing-ca-bundle"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/login/second-factor/", second_factor, name="signin-second-factor"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include(api_v1)),
    path("video/", include("video.urls")),
    # Pages of the staff roles: the clinic console, the doctor's workstation, pharmacist review.
    path("console/", include("clinics.pages")),
    path("workstation/", include("consultations.pages")),
    path("review/", include("prescriptions.pages")),
    path("icd10/options/", icd10_options, name="icd10-options"),
    path("m/", include((mobile_pages, "mobile"))),
    path("doctors/", include((doctor_pages.urlpatterns, "doctors"))),
    path("operations/", include("operations.pages")),
    path("quality/", include("quality.pages")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

# The payment providers' emulators: development and tests only (production does not install them).
if apps.is_installed("provider_emulators"):
    urlpatterns.append(path("emulators/", include("provider_emulators.urls")))
# The courier's emulator, likewise.
if apps.is_installed("courier_emulator"):
    urlpatterns.append(path("emulators/courier/", include("courier_emulator.urls")))
# The read-only FHIR facade, and the supervision platform's emulator (not in production).
if apps.is_installed("interop"):
    urlpatterns.append(path("fhir/", include("interop.fhir.urls")))
if apps.is_installed("regulator_emulator"):
    urlpatterns.append(path("emulators/regulator/", include("regulator_emulator.urls")))

handler404 = "core.api.errors.not_found"
handler500 = "core.api.errors.server_error"
