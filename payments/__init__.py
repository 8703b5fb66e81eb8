"""Payment orders, provider gateways and the payment ledger."""
