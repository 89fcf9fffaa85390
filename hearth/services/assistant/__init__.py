"""The assistant's own records: conversations and their messages, proposed writes, memory and
usage. Only these services write them; the assistant (hearth/assistant) and the app call them."""
