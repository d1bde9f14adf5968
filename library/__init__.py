"""The library: every result kept, described, and found again by words, filters and sound."""
