"""Booking service: seat holds, confirmation and cancellation over the inventory."""
