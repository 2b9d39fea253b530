/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Corpus replay driver (ctest label fuzz-smoke): feeds every regular file of the directories (or
 * the files) named on the command line to the harness once, so the corpora run on every build,
 * with gcc and without libFuzzer. A harness reports a failure by aborting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

static int run_file(int dirfd, const char *name, const char *shown)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	/* An exact-size copy, so that ASan builds catch reads past the end as libFuzzer would. */
	fprintf(stderr, "%s (%zu bytes)\n", shown, off);
	LLVMFuzzerTestOneInput(buf, off);
	free(buf);
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	unsigned ran = 0;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;
		char **names = NULL;
		size_t n = 0;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			int r = run_file(AT_FDCWD, argv[i], argv[i]);

			failed |= r < 0;
			ran += r > 0;
			continue;
		}
		d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		while ((de = readdir(d))) {
			char **t;

			if (de->d_name[0] == '.')
				continue;
			t = realloc(names, (n + 1) * sizeof(*names));
			if (!t || !(t[n] = strdup(de->d_name))) {
				fprintf(stderr, "out of memory\n");
				return 1;
			}
			names = t;
			n++;
		}
		if (names)
			qsort(names, n, sizeof(*names), cmp_str);
		for (size_t j = 0; j < n; j++) {
			char shown[4096];
			int r;

			snprintf(shown, sizeof(shown), "%s/%s", argv[i], names[j]);
			r = run_file(dirfd(d), names[j], shown);
			failed |= r < 0;
			ran += r > 0;
			free(names[j]);
		}
		free(names);
		closedir(d);
	}
	if (ran == 0) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	printf("replayed %u inputs\n", ran);
	return failed ? 1 : 0;
}
