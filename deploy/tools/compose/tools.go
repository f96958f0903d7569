//go:build tools

// Package tools pins the Docker Compose CLI that CI builds to run `docker compose config`
// on docker-compose.yml: these machines have no Docker engine, but the compose client
// validates and normalises the file on its own (scripts/deploy-tools.sh builds it).
package tools

import _ "github.com/docker/compose/v2/cmd"
