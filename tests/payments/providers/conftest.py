from tests.payments.providers.support import (  # noqa: F401
    _payment_keys,
    emulators,
    payment_keys_dir,
    phone,
    receiver,
)
