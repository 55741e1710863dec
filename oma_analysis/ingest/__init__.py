"""Label Studio exports and long files -> one tidy long frame (the loader), with every dropped row reported."""
