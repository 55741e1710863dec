"""Prompt suites: the record schema, the team's core suite, the templated space, the secret
test split with canaries, and importers for public data sets and usage logs."""
