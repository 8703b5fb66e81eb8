from django.urls import re_path
from rest_framework.routers import SimpleRouter

from payments.api.views import OrderViewSet, ReconciliationViewSet, provider_notify

router = SimpleRouter()
router.register("orders", OrderViewSet, basename="order")
router.register(
    "payments/reconciliations", ReconciliationViewSet, basename="payment-reconciliation"
)

urlpatterns = [
    # The providers are given these URLs (no trailing slash, as SPEC §7 lists them).
    re_path(
        r"^payments/notify/(?P<provider>wechatpay|alipay)/?$",
        provider_notify,
        name="payment-notify",
    ),
    *router.urls,
]
