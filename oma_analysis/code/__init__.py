"""Code tasks: a sandbox for model-written code, HumanEval with executed tests, code evidence."""
