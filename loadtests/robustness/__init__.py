"""Bad input and bad days: the invalid-input catalogue and matrix, overload and fault runs."""
