"""Image outputs reviewed in the same units as text: records, blinded tasks, the review form."""
