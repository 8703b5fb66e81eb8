from django.urls import path

from courier_emulator import views

urlpatterns = [
    path("", views.waybill_list, name="courier-emulator-waybills"),
    path(
        "waybills/<str:waybill_number>/advance/",
        views.waybill_advance,
        name="courier-emulator-advance",
    ),
    path("api/waybills/", views.api_waybill_create, name="courier-emulator-api-create"),
    path(
        "api/waybills/<str:waybill_number>/cancel/",
        views.api_waybill_cancel,
        name="courier-emulator-api-cancel",
    ),
]
