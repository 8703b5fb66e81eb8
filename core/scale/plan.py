"""How a scale run is cut into batches, and the id range each batch writes into.

Batch b holds patients [P·b/n, P·(b+1)/n) and consultations [C·b/n, C·(b+1)/n), and every row
that follows from them. Its rows take ids from fixed windows (table base + b × window), reserved
when the run starts: a batch can be written, rolled back and written again, in any order and in
any process, and always gets the same ids, never one another batch or the application took.
"""

import math
from dataclasses import dataclass

from django.db import models

from accounts.models import User
from consultations.models import (
    ClinicalNote,
    Consultation,
    ConsultationDiagnosis,
    ConsultationEvent,
    Slot,
    VitalSign,
)
from notifications.models import Notification
from patients.models import (
    ConsentRecord,
    IdentityVerification,
    Patient,
    PatientFacility,
    PriorDiagnosisEvidence,
)
from payments.models import (
    OrderEvent,
    OrderLine,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    Refund,
)
from pharmacy.models import (
    CourierCallback,
    Dispense,
    DispenseItem,
    Fulfilment,
    FulfilmentEvent,
    TrackingEvent,
    Waybill,
)
from prescriptions.models import Prescription, PrescriptionEvent, PrescriptionItem

# Most rows a batch writes per consultation and per patient, by model.
ROWS_PER: dict[type[models.Model], tuple[int, int]] = {
    User: (0, 1),  # patients' own accounts
    Patient: (0, 1),
    PatientFacility: (0, 1),
    IdentityVerification: (0, 1),
    ConsentRecord: (0, 1),
    PriorDiagnosisEvidence: (1, 0),
    Slot: (1, 0),
    Consultation: (1, 0),
    ConsultationEvent: (4, 0),
    ClinicalNote: (1, 0),
    ConsultationDiagnosis: (1, 0),
    VitalSign: (3, 0),
    Prescription: (1, 0),
    PrescriptionItem: (3, 0),
    PrescriptionEvent: (4, 0),
    PaymentOrder: (1, 0),
    OrderLine: (5, 0),
    OrderEvent: (4, 0),
    PaymentAttempt: (1, 0),
    Refund: (1, 0),
    PaymentEvent: (4, 0),
    Fulfilment: (1, 0),
    FulfilmentEvent: (6, 0),
    Dispense: (1, 0),
    DispenseItem: (3, 0),
    Waybill: (1, 0),
    CourierCallback: (5, 0),
    TrackingEvent: (5, 0),
    Notification: (8, 0),
}
MODELS = tuple(ROWS_PER)


@dataclass(frozen=True)
class Plan:
    patients: int
    consultations: int
    batch_size: int

    @property
    def batches(self) -> int:
        # About batch_size consultations a batch, and at most twice as many patients.
        return max(
            1,
            math.ceil(self.consultations / self.batch_size),
            math.ceil(self.patients / (2 * self.batch_size)),
        )

    def patient_range(self, batch: int) -> range:
        n = self.batches
        return range(self.patients * batch // n, self.patients * (batch + 1) // n)

    def consultation_range(self, batch: int) -> range:
        n = self.batches
        return range(self.consultations * batch // n, self.consultations * (batch + 1) // n)

    def window(self, model: type[models.Model]) -> int:
        """Ids one batch may use in the model's table."""
        per_consultation, per_patient = ROWS_PER[model]
        return max(
            1,
            per_consultation * math.ceil(self.consultations / self.batches)
            + per_patient * math.ceil(self.patients / self.batches),
        )


class Ids:
    """The next id of each table inside one batch's windows."""

    def __init__(self, plan: Plan, ranges: dict[str, list[int]], batch: int) -> None:
        self._next: dict[type[models.Model], int] = {}
        self._end: dict[type[models.Model], int] = {}
        for model in MODELS:
            first, window = ranges[model._meta.db_table]
            self._next[model] = first + batch * window
            self._end[model] = first + (batch + 1) * window

    def __call__(self, model: type[models.Model]) -> int:
        value = self._next[model]
        if value >= self._end[model]:
            raise RuntimeError(f"{model.__name__}: the batch outgrew its id window")
        self._next[model] = value + 1
        return value
