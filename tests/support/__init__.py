"""Helpers the tests share: git histories, builds, servers, the browser, recorded feeds."""
