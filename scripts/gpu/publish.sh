#!/usr/bin/env bash
# Builds the self-contained linux-x64 convgrad (no .NET needed where it runs) that run-gpu-bench.sh uses, and
# packs it as artifacts/convgrad-linux-x64.tar.xz (small enough to carry to a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rm -rf artifacts/convgrad-linux-x64
dotnet publish src/ConvGrad.Cli/ConvGrad.Cli.csproj -c Release -r linux-x64 --self-contained -o artifacts/convgrad-linux-x64 -p:DebugType=none
tar -C artifacts -cJf artifacts/convgrad-linux-x64.tar.xz convgrad-linux-x64
du -sh artifacts/convgrad-linux-x64 artifacts/convgrad-linux-x64.tar.xz
