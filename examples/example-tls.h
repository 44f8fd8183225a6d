/*
 * example-tls.h - --ssl for the example servers: the default certificate.
 *
 * --ssl serves https:// and wss:// with the certificate and key of --cert and
 * --key (PEM files; giving them implies --ssl).  Without them the examples use
 * a self-signed certificate for localhost / 127.0.0.1 / ::1, made on first use
 * with the openssl command into the user's cache folder and kept for the next
 * runs (delete the two files to get a new one):
 *
 *   ${XDG_CACHE_HOME:-~/.cache}/pylws/localhost-cert.pem
 *   ${XDG_CACHE_HOME:-~/.cache}/pylws/localhost-key.pem
 *
 * made with (the command printed when it runs):
 *
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256
 *       -days 825 -subj /CN=localhost
 *       -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
 *       -keyout localhost-key.pem -out localhost-cert.pem
 *
 * The Python examples do the same (examples/example_tls.py) and share the
 * files.
 */
#ifndef PYLWS_EXAMPLE_TLS_H
#define PYLWS_EXAMPLE_TLS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXAMPLE_TLS_CERT_NAME "localhost-cert.pem"
#define EXAMPLE_TLS_KEY_NAME "localhost-key.pem"

/* ${XDG_CACHE_HOME:-$HOME/.cache}/pylws into buf; -1 if it does not fit */
static int example_tls_cache_folder(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/pylws", xdg);
	else if (home && *home)
		n = snprintf(buf, size, "%s/.cache/pylws", home);
	else
		return -1;
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int example_tls_mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int bad = mkdir(path, 0700) && errno != EEXIST;
		*p = '/';
		if (bad)
			return -1;
	}
	return mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
}

static int example_tls_run_openssl(const char *key, const char *cert)
{
	char *argv[] = {
		"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:P-256", "-nodes", "-sha256", "-days", "825", "-subj",
		"/CN=localhost", "-addext",
		"subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1", "-keyout", (char *)key,
		"-out", (char *)cert, NULL,
	};
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * The cached self-signed localhost certificate and key (cert and key, each
 * PATH_MAX bytes), made if missing.  0 or -1 (and a message on stderr).
 */
static int example_tls_default_certificate(const char *prog, char *cert, char *key)
{
	char folder[PATH_MAX], tmp_cert[PATH_MAX], tmp_key[PATH_MAX];
	if (example_tls_cache_folder(folder, sizeof folder) ||
	    snprintf(cert, PATH_MAX, "%s/%s", folder, EXAMPLE_TLS_CERT_NAME) >= PATH_MAX ||
	    snprintf(key, PATH_MAX, "%s/%s", folder, EXAMPLE_TLS_KEY_NAME) >= PATH_MAX) {
		fprintf(stderr, "%s: no cache folder for a certificate: give --cert and --key\n",
			prog);
		return -1;
	}
	if (!access(cert, R_OK) && !access(key, R_OK)) {
		fprintf(stderr, "%s: TLS with the self-signed certificate %s\n", prog, cert);
		return 0;
	}
	if (example_tls_mkdirs(folder)) {
		fprintf(stderr, "%s: cannot make %s: %s\n", prog, folder, strerror(errno));
		return -1;
	}
	/* made under temporary names, then renamed: a concurrent start sees both or neither */
	if (snprintf(tmp_cert, sizeof tmp_cert, "%s/.%s.%ld", folder, EXAMPLE_TLS_CERT_NAME,
		     (long)getpid()) >= (int)sizeof tmp_cert ||
	    snprintf(tmp_key, sizeof tmp_key, "%s/.%s.%ld", folder, EXAMPLE_TLS_KEY_NAME,
		     (long)getpid()) >= (int)sizeof tmp_key)
		return -1;
	fprintf(stderr,
		"%s: making a self-signed certificate for localhost in %s:\n"
		"  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 "
		"-days 825 -subj /CN=localhost "
		"-addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1 -keyout %s -out %s\n",
		prog, folder, key, cert);
	int rc = example_tls_run_openssl(tmp_key, tmp_cert);
	if (rc || access(tmp_cert, R_OK) || access(tmp_key, R_OK)) {
		unlink(tmp_cert);
		unlink(tmp_key);
		fprintf(stderr, "%s: openssl failed (%d%s): give --cert and --key\n", prog, rc,
			rc == 127 ? ", not installed?" : "");
		return -1;
	}
	if (rename(tmp_key, key) || rename(tmp_cert, cert)) {
		fprintf(stderr, "%s: cannot store the certificate in %s: %s\n", prog, folder,
			strerror(errno));
		return -1;
	}
	fprintf(stderr, "%s: TLS with the self-signed certificate %s (key %s)\n", prog, cert, key);
	return 0;
}

#endif
