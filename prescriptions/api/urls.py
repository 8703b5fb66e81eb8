from rest_framework.routers import SimpleRouter

from prescriptions.api.views import DrugViewSet, PrescriptionViewSet

router = SimpleRouter()
router.register("drugs", DrugViewSet, basename="drug")
router.register("prescriptions", PrescriptionViewSet, basename="prescription")

urlpatterns = router.urls
