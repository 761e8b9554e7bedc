"""Bookings (会议室预订): meeting rooms booked from chat, never two at once."""
