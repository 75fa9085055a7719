"""The only package that talks to the model: client, tool loop, prompts, grounding check, redaction."""
