import pytest

from tests.courier_emulator.transport import InProcessTransport
from tests.pharmacy.builders import emulated_courier


@pytest.fixture
def in_process_courier(monkeypatch: pytest.MonkeyPatch) -> InProcessTransport:
    """The configured courier client, reaching the emulator in-process (what requests to the
    API use when they dispatch), instead of over a socket no server listens on in tests."""
    transport = InProcessTransport()
    monkeypatch.setattr(
        "pharmacy.services.delivery.courier_client", lambda: emulated_courier(transport)
    )
    return transport
