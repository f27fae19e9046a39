// Package procattr sets the process attributes of an OCI config that are
// neither mounts nor capabilities: user and groups, umask, rlimits, OOM
// score, sysctls, scheduler, I/O priority, personality, no_new_privs,
// hostname, the working directory and the executable lookup.
//
// The container's init calls these inside the container's namespaces,
// after pivot_root, on the OS thread it keeps locked until execve(2).
// Several of these attributes belong to a thread, not to the process
// (scheduler, I/O priority, personality, no_new_privs, PR_SET_KEEPCAPS);
// execve(2) carries the calling thread's values into the user program,
// so they must be set on that same thread.
package procattr
