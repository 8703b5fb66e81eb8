"""Outside messaging providers (SMS, WeChat) and their local emulator."""


class PermanentDeliveryError(Exception):
    """The provider refused the message for good (invalid number, unsubscribed): no retry."""
