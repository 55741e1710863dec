"""The statistics layer: pure functions on long frames (`task, worker, label` + `question, model, prompt`),
each checked against an independent implementation or published values. Frames in, frames out;
JSON records and NaN cleaning live with the report and the CLI."""
