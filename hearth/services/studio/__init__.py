"""AI Studio records: creators' AIs, their knowledge, and their direct-message threads."""
