from django.urls import path
from rest_framework.routers import SimpleRouter

from pharmacy.api.views import (
    CourierNotifyView,
    FulfilmentViewSet,
    StockMovementViewSet,
    StockViewSet,
)

router = SimpleRouter()
router.register("fulfilments", FulfilmentViewSet, basename="fulfilment")
router.register("stock/movements", StockMovementViewSet, basename="stock-movement")
router.register("stock", StockViewSet, basename="stock")

urlpatterns = [
    path(
        "fulfilments/courier/notify/",
        CourierNotifyView.as_view(),
        name="fulfilment-courier-notify",
    ),
    *router.urls,
]
