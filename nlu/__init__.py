"""Understanding residents' words: text in, a parse out (intent, entities, FAQ match, the
reading of a place). Knows nothing of conversations, tickets or storage."""
