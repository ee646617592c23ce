"""`make demo`: the README's walkthrough against a throwaway local S3 test server."""
