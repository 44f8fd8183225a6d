/*
 * workers.c - lws_start_workers: N processes sharing one listening port
 * (LWS_SERVER_OPTION_REUSEPORT), started before any context exists so that
 * nothing that cannot be shared (epoll sets, Redis connections) is inherited,
 * and stopped together.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "private.h"

static void stop_all(const pid_t *pids, int n, int sig)
{
	for (int i = 0; i < n; i++)
		if (pids[i] > 0)
			kill(pids[i], sig);
}

int lws_start_workers(int n)
{
	if (n < 1 || n > 4096) {
		lwsl_err("start_workers: %d workers?\n", n);
		errno = EINVAL;
		return -1;
	}
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	if (!pids)
		return -1;
	/* the signals that stop the workers wait in the mask until sigwait */
	sigset_t stop, old;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGCHLD);
	sigprocmask(SIG_BLOCK, &stop, &old);
	pid_t parent = getpid();

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			int e = errno;
			lwsl_err("start_workers: fork: %s\n", strerror(e));
			stop_all(pids, i, SIGTERM);
			for (int k = 0; k < i; k++)
				waitpid(pids[k], NULL, 0);
			sigprocmask(SIG_SETMASK, &old, NULL);
			free(pids);
			errno = e;
			return -1;
		}
		if (pid == 0) {
			free(pids);
			prctl(PR_SET_PDEATHSIG, SIGTERM); /* die with the supervisor */
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (getppid() != parent)
				_exit(0); /* it is gone already */
			return i;
		}
		pids[i] = pid;
	}

	int alive = n, sig, forwarded = 0, failed = 0;
	while (alive > 0) {
		if (sigwait(&stop, &sig))
			continue;
		if (sig != SIGCHLD) {
			stop_all(pids, n, sig);
			forwarded = sig;
			continue;
		}
		pid_t pid;
		int status;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++)
				if (pids[i] == pid) {
					pids[i] = 0;
					alive--;
					if (WIFSIGNALED(status) && WTERMSIG(status) != forwarded) {
						lwsl_err("worker %d (pid %d) killed by signal %d\n", i,
							 (int)pid, WTERMSIG(status));
						failed = 1;
					} else if (WIFEXITED(status) && WEXITSTATUS(status)) {
						lwsl_err("worker %d (pid %d) exited with %d\n", i, (int)pid,
							 WEXITSTATUS(status));
						failed = 1;
					}
				}
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(pids);
	return failed ? -3 : -2;
}
