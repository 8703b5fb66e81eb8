from rest_framework.routers import SimpleRouter

from terminology.api.views import Icd10CodeViewSet

router = SimpleRouter()
router.register("icd10", Icd10CodeViewSet, basename="icd10")

urlpatterns = router.urls
