"""The emulators' URLs, mounted at /emulators/ in development and tests (never in production)."""

from django.urls import path, re_path

from provider_emulators import views
from provider_emulators.alipay import alipay_bill_file, alipay_gateway
from provider_emulators.wechatpay import wechatpay_api

app_name = "provider_emulators"

urlpatterns = [
    # WeChat Pay's API v3: WECHATPAY_API_BASE_URL is <server>/emulators/wechatpay.
    re_path(r"^wechatpay/(?P<api_path>.*)$", wechatpay_api, name="wechatpay-api"),
    # Alipay's gateway: ALIPAY_GATEWAY_URL is <server>/emulators/alipay/gateway.do.
    path("alipay/gateway.do", alipay_gateway, name="alipay-gateway"),
    path("alipay/bill/<str:token>/", alipay_bill_file, name="alipay-bill"),
    path("pay/wechatpay/jsapi/", views.wechatpay_jsapi_cashier, name="wechatpay-jsapi-cashier"),
    path("pay/<str:provider>/<uuid:trade_id>/", views.payer_page, name="payer-page"),
    path("pay/<str:provider>/<uuid:trade_id>/pay/", views.payer_pay, name="payer-pay"),
    path("pay/<str:provider>/<uuid:trade_id>/cancel/", views.payer_cancel, name="payer-cancel"),
]
