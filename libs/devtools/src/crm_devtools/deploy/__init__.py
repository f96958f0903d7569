"""Deployment files (Dockerfiles, docker-compose.yml, the Kubernetes base) written from one plan."""
