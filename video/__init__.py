"""WebRTC video consultations and in-call chat."""
