#!/usr/bin/env bash
# Installs code-server (VS Code 1.100 for Node 20) into .vscode-test/code-server without any
# download besides the npm registry: its own postinstall fetches ripgrep from the internet, so
# scripts are off and the postinstall's steps are done here by hand. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=4.100.3
DIR=.vscode-test/code-server
CS="$DIR/node_modules/code-server"
if [ -f "$DIR/.installed-$VERSION" ]; then exit 0; fi
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name":"code-server-host","private":true}' > package.json
npm install --no-audit --no-fund --ignore-scripts "code-server@$VERSION"
npm rebuild argon2 >/dev/null 2>&1 || npm rebuild argon2
cd node_modules/code-server/lib/vscode
npm install --no-audit --no-fund --omit=dev --ignore-scripts
for pkg in @vscode/spdlog node-pty native-watchdog @vscode/deviceid; do
  if [ -f "node_modules/$pkg/binding.gyp" ]; then npm_config_yes=true npm rebuild "$pkg"; fi
done
mkdir -p node_modules/@vscode/ripgrep/bin
if command -v rg >/dev/null; then ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg; fi
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && npm install --no-audit --no-fund --omit=dev --ignore-scripts)
cd ../../../../
touch ".installed-$VERSION"
