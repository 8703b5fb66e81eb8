"""Facility stock, pickup and home delivery."""
