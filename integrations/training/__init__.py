"""Curating and publishing what the bot knows: training examples, the review queue, model
releases, and keeping every app process on the published model and FAQ topics."""
