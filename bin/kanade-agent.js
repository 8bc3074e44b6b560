#!/usr/bin/env node
// The installed entry point. It stays tiny so that it never needs updating: the launcher in dist/
// chooses the release to run (a staged self-update, or this base install) and runs it.
import "../dist/launcher/main.js";
