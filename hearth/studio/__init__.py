"""AI Studio: creators' own AIs."""
