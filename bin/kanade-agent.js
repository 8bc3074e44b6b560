#!/usr/bin/env node
// The installed entry point. It stays tiny so that it never needs updating:
// everything it runs lives in dist/.
import "../dist/main.js";
