from django.urls import path

from regulator_emulator import views

urlpatterns = [
    path("", views.batch_list, name="regulator-emulator-batches"),
    path("outage/", views.outage_toggle, name="regulator-emulator-outage"),
    path("api/batches", views.api_batches, name="regulator-emulator-api-batches"),
]
