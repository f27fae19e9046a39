// nsenter: the part of the nsrun init that must run before the Go runtime
// starts threads. See docs/design.md ("Process model") for why it exists.
//
// Apart from one malloc setting for every nsrun process (see the
// constructor), it acts only when _NSRUN_BOOTSTRAP is set (the runtime sets
// it when it starts `nsrun init`); otherwise it returns at once and nsrun
// runs as usual.
// The variable holds fd numbers and flags, ';'-separated:
//   sock=N           the init socket (SOCK_SEQPACKET) to report errors on
//   tasks=N,N,...    cgroup v1 "tasks" files to move this thread into
//   join=F:N,...     setns(N, F) for each entry (see join_namespaces for
//                    the order)
//   unshare=F        unshare these namespaces (after the joins); if F has
//                    CLONE_NEWUSER the runtime writes our id maps first
//   fork=1           fork once (CLONE_PARENT) so that we run inside the PID
//                    namespace joined or created above
//   exe=N            the handle on the binary we were executed from (a
//                    read-only view or a sealed copy, see libcontainer/
//                    selfexe); nothing here needs it, so it is closed first
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int init_sock = -1;

// fail reports an error as a protocol message the runtime understands, then
// exits: nothing in Go has started yet, so there is nothing to unwind.
static void fail(const char *fmt, ...)
{
	char msg[512], json[1200];
	size_t j = 0;
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = snprintf(json, sizeof(json), "{\"type\":\"error\",\"message\":\"nsenter: ");
	for (const char *p = msg; *p && j < sizeof(json) - 64; p++) {
		if (*p == '"' || *p == '\\')
			json[j++] = '\\';
		json[j++] = (*p >= 0x20) ? *p : ' ';
	}
	j += snprintf(json + j, sizeof(json) - j, ": %s\"}", strerror(saved));
	if (init_sock >= 0)
		(void)!send(init_sock, json, j, MSG_NOSIGNAL);
	else
		fprintf(stderr, "%s\n", json);
	_exit(1);
}

static void send_msg(const char *msg)
{
	if (send(init_sock, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		fail("send %s", msg);
}

// wait_msg blocks until the runtime answers with a message of type want.
static void wait_msg(const char *want)
{
	char buf[256];
	ssize_t n = recv(init_sock, buf, sizeof(buf) - 1, 0);
	if (n <= 0) {
		errno = n == 0 ? EPIPE : errno;
		fail("waiting for %s from the runtime", want);
	}
	buf[n] = 0;
	if (!strstr(buf, want)) {
		errno = EPROTO;
		fail("expected %s from the runtime, got %s", want, buf);
	}
}

// become_root makes the process root of the user namespace it just entered:
// without it, files it creates would belong to an unmapped (host) uid.
static void become_root(void)
{
	if (setresgid(0, 0, 0) < 0)
		fail("setresgid(0) in the user namespace");
	if (setresuid(0, 0, 0) < 0)
		fail("setresuid(0) in the user namespace");
	// A change of uid or gid resets the dumpable flag to fs.suid_dumpable,
	// which a host may have set to 1: non-dumpable again, before we become
	// visible in the container's PID namespace.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail("prctl(PR_SET_DUMPABLE)");
}

static long field(const char *env, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	for (const char *p = env; p && *p;) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = n - klen - 1;
			if (vlen >= len)
				vlen = len - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = 0;
			return 1;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

static void move_into_cgroups(char *list)
{
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		int fd = atoi(tok);
		// "0" is this thread: a self-move of one thread does not wait for
		// the RCU grace period that moving another process costs on v1.
		if (write(fd, "0", 1) != 1)
			fail("enter cgroup (tasks fd %d)", fd);
		close(fd);
	}
}

// join_namespaces enters every namespace of the list. The user namespace
// cannot simply come first: after setns(user) we hold capabilities only in
// that namespace and its descendants, so a namespace it does not own (a
// container in a new user namespace that joined the host's network
// namespace by path) can no longer be entered. Nor can it simply come last:
// a caller without privileges in its own user namespace (rootless) may
// enter the container's other namespaces only as root of the container's
// user namespace. So every other namespace is tried first, in list order;
// those refused with EPERM are kept, the user namespace is joined, and the
// kept ones are retried, in order, with the capabilities gained there.
#define MAX_JOINS 16

struct join {
	int flag, fd;
};

static void join_one(const struct join *j)
{
	if (setns(j->fd, j->flag) < 0)
		fail("setns into namespace fd %d (type 0x%x)", j->fd, j->flag);
	close(j->fd);
}

static void join_namespaces(char *list)
{
	struct join joins[MAX_JOINS], later[MAX_JOINS], user = {0, -1};
	int n = 0, nlater = 0;
	char *save = NULL;

	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct join j;
		if (n == MAX_JOINS || sscanf(tok, "%d:%d", &j.flag, &j.fd) != 2) {
			errno = EINVAL;
			fail("bad join entry %s", tok);
		}
		if (j.flag == CLONE_NEWUSER)
			user = j;
		else
			joins[n++] = j;
	}
	for (int i = 0; i < n; i++) {
		if (setns(joins[i].fd, joins[i].flag) == 0) {
			close(joins[i].fd);
			continue;
		}
		if (errno != EPERM || user.fd < 0)
			fail("setns into namespace fd %d (type 0x%x)", joins[i].fd, joins[i].flag);
		later[nlater++] = joins[i];
	}
	if (user.fd >= 0) {
		join_one(&user);
		become_root();
	}
	for (int i = 0; i < nlater; i++)
		join_one(&later[i]);
}

__attribute__((constructor)) static void nsenter(void)
{
	const char *env = getenv("_NSRUN_BOOTSTRAP");
	char val[1024];
	int flags = 0;

	// In every nsrun process (runtime or init), before the Go runtime
	// starts its threads: one malloc arena for all of them. By default
	// glibc gives each thread that allocates (the Go runtime's cgo thread
	// creation does) an arena of its own, mapping a 64 MiB heap for it:
	// ~1 ms of system calls and page faults per process here, for the few
	// hundred bytes nsrun ever allocates in C.
	mallopt(M_ARENA_MAX, 1);
	if (!env)
		return;
	// Until execve of the user program, this process holds the runtime's
	// fds and privileges: nothing in the container (which it may join
	// below) may ptrace it or open /proc/<pid>/{fd,exe,mem}. The execve of
	// the final program makes it dumpable again.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail("prctl(PR_SET_DUMPABLE)");
	if (field(env, "sock", val, sizeof(val)))
		init_sock = atoi(val);
	if (field(env, "exe", val, sizeof(val)))
		close(atoi(val));
	// Executed through /proc/self/fd/N, our name would be "N".
	prctl(PR_SET_NAME, "nsrun-init", 0, 0, 0);
	if (field(env, "tasks", val, sizeof(val)))
		move_into_cgroups(val);
	if (field(env, "join", val, sizeof(val)))
		join_namespaces(val);
	if (field(env, "unshare", val, sizeof(val)))
		flags = atoi(val);
	if (flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			fail("unshare user namespace");
		// Only the runtime, in the parent user namespace, can write a map
		// wider than our own uid.
		send_msg("{\"type\":\"idmap\"}");
		wait_msg("idmapDone");
		become_root();
		flags &= ~CLONE_NEWUSER;
	}
	// The cgroup namespace is created here, after the cgroup move, so that
	// its root is the container's cgroup and not the runtime's.
	if (flags && unshare(flags) < 0)
		fail("unshare namespaces 0x%x", flags);
	if (field(env, "fork", val, sizeof(val))) {
		// CLONE_PARENT: the runtime, not this short-lived process, is the
		// parent of the init, so it can wait for it.
		pid_t pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (pid < 0)
			fail("fork into the pid namespace");
		if (pid > 0) {
			char msg[64];
			snprintf(msg, sizeof(msg), "{\"type\":\"pid\",\"pid\":%d}", pid);
			send_msg(msg);
			_exit(0);
		}
	}
}
