"""The demo: the whole loop on embedded data, and the synthetic runs with known truth it and the tests use."""
