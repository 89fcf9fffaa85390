"""What a creator's AI knows (its creator's posts, the notes they upload) and how a question
finds the passages that answer it: BM25 and sentence embeddings (FAISS), fused by rank."""
