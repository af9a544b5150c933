"""Messages compiled from proto/ by proto/build.py: generated, committed, never edited by hand."""
