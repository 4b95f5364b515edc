"""Docker Swarm: the stack file generated from docker-compose.yml, and a multi-node swarm of
Docker-in-Docker nodes on one machine (docs/swarm.md)."""
