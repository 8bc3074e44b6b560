#!/usr/bin/env node
// The installed entry point. It stays tiny so that it never needs updating: the launcher chooses
// the release to run (a staged self-update, or this base install) and runs it. The base install
// is one bundle of the launcher and the daemon (`npm run build` makes it: dist/kanade-agent.mjs).
import "../dist/kanade-agent.mjs";
