"""Completions: the record every generator and importer writes, the prompt framings, and the
generators (transformers for ``hf:``, the OpenAI client for ``openai:``). Heavy libraries are
imported inside the functions that use them."""
