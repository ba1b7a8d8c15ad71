/*
 * gateway/admin.h - operator commands that talk to the store: csu, reset-link, unlock,
 * user list|set|delete, sessions revoke.
 *
 * Owns:     nothing past the command.
 * Entry:    ag_admin_main().
 * Not here: argument dispatch (gateway/main.c), the server.
 * Spec:     CONTRACT.md section 2; docs/users.md.
 */
#ifndef AG_GATEWAY_ADMIN_H
#define AG_GATEWAY_ADMIN_H

/**
 * Runs <cmd> ("csu", "reset-link", "unlock", "user" or "sessions": their subcommand and
 * USER are the first words of argv[from..]) with the options argv[from..]. Returns the
 * exit status: 0 done, 2 usage or configuration error, 1 any other failure (duplicate
 * user, store unreachable, weak password, no such user).
 */
int ag_admin_main(const char *cmd, int argc, char **argv, int from);

#endif
