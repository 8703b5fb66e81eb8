"""Reads of the quality app, scoped to the actor where people are involved."""
