"""Small data files for the NLU: administrative-division names and WeChat emoji names."""
