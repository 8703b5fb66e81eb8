"""Platform CA, signing credentials and signature verification."""
