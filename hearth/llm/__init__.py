"""Open-weights LLM runtimes behind one chat-completions interface (streaming + tool calls):
any OpenAI-compatible HTTP server (Ollama, llama.cpp server, vLLM, LM Studio) or an in-process
GGUF through llama-cpp-python. Nothing here imports the app."""
