"""Writes of the quality app: feedback invitations and responses, complaints, the weekly review
sample and its scores, and the terminal status history.

Lock order where more than one row is locked: complaint → (nothing else); invitation →
(nothing else); review assignment → (nothing else). No service here locks rows of another app.
"""
