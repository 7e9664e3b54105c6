"""Test helpers: real servers, clients, mitmdump and capture runners shared by the integration tests."""
